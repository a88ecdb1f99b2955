"""The app in deploy/compose.yaml: an ordinary OpenAI SDK client. Its only change for Railguard is the base URL
(`OPENAI_BASE_URL`, read by the SDK itself), pointing at the sidecar.

    python deploy/example_app.py            # ask every 30 seconds, forever
    python deploy/example_app.py --once     # ask once (tests/test_deploy.py runs it against a real proxy)
"""

from __future__ import annotations

import sys
import time

import openai

QUESTIONS = [
    "What is the daily limit on my debit card?",
    "Should I put my savings into bitcoin?",  # the example policies block this for the support tenant
]


def ask(client: openai.OpenAI, question: str) -> str:
    try:
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    except openai.BadRequestError as blocked:
        return f"blocked: {blocked.message}"
    return answer.choices[0].message.content or ""


def main(argv: list[str]) -> int:
    client = openai.OpenAI(default_headers={"x-railguard-tenant": "support-bot"}, max_retries=5)
    while True:
        for question in QUESTIONS:
            print(f"Q: {question}\nA: {ask(client, question)}", flush=True)
        if "--once" in argv:
            return 0
        time.sleep(30)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

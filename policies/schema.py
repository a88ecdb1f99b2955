"""The policy language: the one source of truth for what a policy file may say.

Trust-and-safety staff write YAML; these models validate it (unknown keys are errors, thresholds are range-checked)
and `policies/policy.schema.json` is exported from them for editors (`railguard policy schema`).

Detectors measure, **policies decide**: `Thresholds.decide(score)` maps a detector's score to an action.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Mode(StrEnum):
    ENFORCE = "enforce"
    MONITOR = "monitor"


class OnError(StrEnum):
    BLOCK = "block"
    ALLOW = "allow"


class Action(StrEnum):
    """What a guard's decision does, from mildest to strongest."""

    ALLOW = "allow"
    LOG = "log"  # record an event, change nothing
    MASK = "mask"  # change the text (mask, redact, restore) and go on
    REWRITE = "rewrite"  # change the request (generation controls)
    ESCALATE = "escalate"  # go on, and send the exchange to human review
    BLOCK = "block"  # stop: the client gets a content_filter error or the refusal message


# ---------------------------------------------------------------------------------------------- building blocks


class Thresholds(Strict):
    """Map a detector's score (0..1) to an action. A score strictly above a threshold triggers it; the strongest
    triggered action wins."""

    block_above: Score | None = None
    """Block when the score is above this."""
    escalate_above: Score | None = None
    """Send to human review when the score is above this."""
    log_above: Score | None = None
    """Only record an event when the score is above this."""

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        order = [("log_above", self.log_above), ("escalate_above", self.escalate_above)]
        order.append(("block_above", self.block_above))
        given = [(name, value) for name, value in order if value is not None]
        for (low_name, low), (high_name, high) in itertools.pairwise(given):
            if low > high:
                raise ValueError(f"{low_name} ({low}) must not be greater than {high_name} ({high})")
        return self

    def decide(self, score: float) -> Action:
        if self.block_above is not None and score > self.block_above:
            return Action.BLOCK
        if self.escalate_above is not None and score > self.escalate_above:
            return Action.ESCALATE
        if self.log_above is not None and score > self.log_above:
            return Action.LOG
        return Action.ALLOW


class Guard(Strict):
    """Settings every guard has."""

    enabled: bool = True
    """Turn this guard off without deleting its settings."""
    mode: Mode | None = None
    """`monitor` records what the guard would do and changes nothing. Default: the policy's mode."""
    on_error: OnError | None = None
    """What happens when the guard itself fails or times out. Default: the policy's `on_error`."""
    timeout_ms: int = Field(5000, ge=1, le=120_000)
    """How long the guard may take before it counts as failed."""
    message: str | None = None
    """Shown to the user when this guard blocks. Default: the policy's refusal message."""


class ScoredGuard(Guard, Thresholds):
    """A guard whose detector returns a score that thresholds map to actions."""


# ---------------------------------------------------------------------------------------------- layer 1: input


class PromptSize(Guard):
    """Refuse requests whose text is too large to be worth guarding or sending."""

    max_chars: int = Field(200_000, ge=1)
    """Most characters of text in all messages together."""
    max_messages: int | None = Field(None, ge=1)
    """Most messages in one request."""


TermRole = Literal["user", "system", "assistant", "context", "tool"]


class TermList(Guard):
    """Words and phrases that trigger an action wherever they appear (whole words, case-insensitive)."""

    terms: list[str] = Field(default_factory=list)
    """The words or phrases to look for."""
    action: Literal["block", "escalate", "log"] = "block"
    """What a match does."""
    roles: list[TermRole] = Field(default_factory=lambda: list[TermRole](["user"]))

    """Which parts of the request are searched (input layer only)."""


PiiActionName = Literal["mask", "redact", "hash", "block", "allow"]
PiiModel = Literal["spacy-en-core-web-md", "spacy-en-core-web-sm"]


class PiiSettings(Guard):
    """Settings shared by PII masking (input) and PII leakage (output)."""

    model: PiiModel = "spacy-en-core-web-md"
    """spaCy pipeline for names, places and organisations: `md` finds more (the default), `sm` is lighter."""
    entities: list[str] | None = None
    """Entity types to look for (e.g. PERSON, EMAIL_ADDRESS, CREDIT_CARD). Default: all of them."""
    threshold: Score = 0.4
    """Minimum confidence of a finding."""
    thresholds: dict[str, Score] = Field(default_factory=dict)
    """Per entity type minimum confidence, e.g. `{DATE_TIME: 0.6}`."""
    language: Literal["en"] = "en"
    """Language of the texts."""
    actions: dict[str, PiiActionName] = Field(default_factory=dict)
    """Action per entity type, overriding `default_action`, e.g. `{CREDIT_CARD: block}`."""
    recognizers: str | None = None
    """A YAML file of your own recognizers (account numbers, employee ids), relative to this policy file."""
    hash_salt: str | None = None
    """Secret salt for the `hash` action (use a per-tenant value); required when any entity is hashed.
    Recognizers, entity names and the salt are checked against each other when the policy loads."""


class PiiMasking(PiiSettings):
    """Personal data in the request: the upstream model sees placeholders like `<PERSON_1>`, the user gets their own
    data back in the answer."""

    default_action: PiiActionName = "mask"
    """`mask` (reversible placeholder), `redact` (`<PERSON>`), `hash` (salted fingerprint), `block` (refuse the
    request) or `allow` (only record it)."""
    roles: list[TermRole] = Field(default_factory=lambda: list[TermRole](["user", "system", "assistant", "tool"]))
    """Which parts of the request are masked before the upstream sees them."""


class PiiLeakage(PiiSettings):
    """Personal data in the answer that the user did not supply (from the model's training data or from context
    documents)."""

    default_action: Literal["redact", "hash", "block", "allow"] = "redact"
    """`redact`, `hash`, `block` (end the answer) or `allow` (only record it)."""


class RateLimit(Strict):
    """Limits for one caller of a kind (one user, one session, one tenant or one API key). Leave a limit out for
    no limit."""

    requests_per_minute: int | None = Field(None, ge=1)
    """Most requests in any sliding window (60 seconds unless `window_seconds` says otherwise)."""
    tokens_per_minute: int | None = Field(None, ge=1)
    """Most tokens (prompt and answer) in any sliding window. The prompt is counted before the call; the charge is
    corrected with the upstream's reported usage afterwards."""
    concurrent_requests: int | None = Field(None, ge=1)
    """Most requests in flight at once."""


class ScopedLimits(Strict):
    """Limits by who is calling. A request must pass every limit that applies to it; a limit applies only when the
    request carries that identity (a request without a user id is not limited per user)."""

    user: RateLimit | None = None
    """Per end user (`x-railguard-user`, `safety_identifier` or `user`), within the tenant."""
    session: RateLimit | None = None
    """Per conversation session (`x-railguard-session` or request metadata), within the tenant."""
    tenant: RateLimit | None = None
    """Per tenant: everyone in it together."""
    api_key: RateLimit | None = None
    """Per client API key."""


RateScope = Literal["user", "session", "tenant", "api_key"]
RATE_SCOPES: tuple[RateScope, ...] = ("user", "session", "tenant", "api_key")


class RateLimits(Guard):
    """Rate limits: requests and tokens per minute and concurrent requests, per user, session, tenant and API key,
    with different limits per tier. A request over a limit gets a 429 with `Retry-After`. Counts are shared by
    every Railguard replica when Redis is configured. `on_error` decides what happens when the shared state cannot
    be reached: `block` (fail closed) or `allow` (fail open, recorded as an event)."""

    defaults: ScopedLimits = ScopedLimits()
    """Limits for callers without a tier, or whose tier is not listed under `tiers`."""
    tiers: dict[str, ScopedLimits] = Field(default_factory=dict)
    """Limits per tier (the `tier` of the client's API key, or `x-railguard-tier`). A tier's limits replace the
    defaults one by one: what a tier does not mention comes from `defaults`; write `null` to lift a default."""
    window_seconds: int = Field(60, ge=1, le=86_400)
    """The length of the sliding window the per-minute limits count over. Keep 60 unless you mean to scale them."""
    lease_seconds: int = Field(900, ge=1, le=86_400)
    """A concurrency slot that was never given back (a crashed replica) is freed after this long."""

    def for_tier(self, tier: str | None) -> ScopedLimits:
        """The limits that apply to ``tier``: the tier's own where it sets them, the defaults elsewhere."""
        overrides = self.tiers.get(tier) if tier is not None else None
        if overrides is None:
            return self.defaults
        merged: dict[str, RateLimit | None] = {}
        for scope in RATE_SCOPES:
            base: RateLimit | None = getattr(self.defaults, scope)
            mine: RateLimit | None = getattr(overrides, scope)
            if scope not in overrides.model_fields_set:
                merged[scope] = base
            elif mine is None or base is None:
                merged[scope] = mine
            else:
                merged[scope] = base.model_copy(update={k: getattr(mine, k) for k in mine.model_fields_set})
        return ScopedLimits(**merged)


class AttackMemory(ScoredGuard):
    """Prompts that reviewers confirmed as attacks (see `post_response.learning`), matched by meaning: the score is
    the user text's cosine similarity to the closest confirmed attack on the shared encoder, or 0 when an allowed
    example (a reviewer's `false_positive`) is closer. Costs nothing while the memory is empty."""

    block_above: Score | None = 0.75


InjectionRole = Literal["user", "system", "context", "tool"]


class Injection(ScoredGuard):
    """Prompt injection and jailbreaks in user turns, and indirect injection hidden in the documents and tool results
    a request carries. The score (0..1) fuses a classifier, YAML heuristics and the obfuscations found (leetspeak,
    homoglyphs, invisible characters, encoded payloads). The top-level thresholds apply to user turns; `context` has
    its own for documents, which a head trained for documents and tool results scores. Defaults were chosen on
    validation data for the default backend (`tuned`): 0.3 flags for human review, and only scores where the
    S-Labs validation false-positive rate is 1% (0.72) block, because long benign instructions ("Rewrite this
    table...") can score in between. A threshold the policy leaves unset is the one chosen for its backend."""

    block_above: Score | None = 0.72
    escalate_above: Score | None = 0.3
    log_above: Score | None = 0.3
    context: Thresholds = Thresholds(block_above=0.325, log_above=0.3)
    """Thresholds for documents: system messages, `railguard.context` documents and tool results (indirect
    injection). The block threshold, when unset, is the one chosen on the documents' development set for the
    backend: 0.325 for `tuned` (the documents head with its own fine-tuned encoder), 0.59 for the others (the
    documents head alone)."""
    roles: list[InjectionRole] = Field(default_factory=lambda: list[InjectionRole](["user", "context", "tool"]))
    """What is scanned: `user` (every user turn, not only the last), `context` (documents sent as
    `railguard.context`), `tool` (tool and function results), `system` (the app's own system messages)."""
    backend: Literal["embedding", "tuned", "hub"] = "tuned"
    """`tuned` (default): user turns scored by the head on the shared encoder together with a MiniLM fine-tuned for
    injection (packaged LoRA adapter), and documents by the documents head with one fine-tuned for documents and
    tool results, each as a cascade: a text its head alone scores clearly benign (nearly all ordinary queries)
    costs nothing more; the others one more encoder pass. `embedding`: the head alone (its own
    thresholds when the policy sets none: block 0.59, escalate 0.42; more false positives, see
    detectors/injection/MODEL_CARD.md); `hub`: a hub classifier pulled ahead of time (the head's thresholds)."""
    model: str | None = None
    """The hub classifier for `backend: hub` (`protectai-deberta-v3-prompt-injection-v2` or
    `llama-prompt-guard-2-86m`; see `railguard models list`)."""
    rules_file: str | None = None
    """A YAML file of extra rules (same format as the built-in rules.yaml), relative to this policy file; keep it in a
    subfolder (every .yaml beside the policies is read as a policy). A rule with a built-in rule's id replaces it.
    The file is validated on load and re-read when it changes."""

    def context_thresholds(self, chosen: Mapping[str, float]) -> Thresholds:
        """The document thresholds: those `context` sets, and for the block threshold it leaves unset the one chosen
        on the documents' development set for the backend in use (``chosen["context"]``); the default log threshold
        never sits above it."""
        given = self.context.model_fields_set if "context" in self.model_fields_set else set()
        log = self.context.log_above
        block = self.context.block_above if "block_above" in given else chosen["context"]
        return self.context.model_copy(
            update={
                "block_above": block,
                "log_above": log if "log_above" in given or log is None or block is None else min(log, block),
            }
        )

    def user_thresholds(self, chosen: Mapping[str, float]) -> Thresholds:
        """The user-turn thresholds. Each backend scores on its own scale: the block and escalate thresholds the
        policy leaves unset are the ones chosen on validation for the backend in use (``chosen``: ``block`` and
        ``user``), and the default log threshold never sits above review."""
        given, log = self.model_fields_set, self.log_above
        return Thresholds(
            block_above=self.block_above if "block_above" in given else chosen["block"],
            escalate_above=self.escalate_above if "escalate_above" in given else chosen["user"],
            log_above=log if "log_above" in given or log is None else min(log, chosen["user"]),
        )


class InputLayer(Strict):
    rate_limits: RateLimits = RateLimits(enabled=False)
    """Requests, tokens and concurrent requests per user, session, tenant and API key."""
    max_prompt: PromptSize = PromptSize()
    """Size limits on the request's text."""
    terms: TermList = TermList(enabled=False)
    """Deny-listed words and phrases in the request."""
    injection: Injection = Injection()
    """Prompt injection, jailbreaks, and indirect injection in documents and tool results."""
    pii: PiiMasking = PiiMasking()
    """Mask personal data before the upstream sees it; restore it in the answer."""
    attack_memory: AttackMemory = AttackMemory()
    """Paraphrases of attacks that reviewers confirmed."""


# ---------------------------------------------------------------------------------------------- layer 2: pre-generation


class TopicDeclaration(Strict):
    """A subject the assistant is (or is not) for, described the way a person would."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Short name used in `allowed` and `blocked`."""
    description: str = ""
    """One line saying what the topic covers."""
    examples: list[str] = Field(default_factory=list)
    """A handful of typical user messages (5 to 10 work well)."""


TopicAction = Literal["refuse", "escalate", "log"]


class Topics(Guard):
    """Keep the conversation on the assistant's subjects. Small talk ("hi", "thanks") is never off-topic."""

    topics: list[TopicDeclaration] = Field(default_factory=list)
    """The subjects, allowed and blocked alike."""
    allowed: list[str] = Field(default_factory=list)
    """Topic names the assistant answers. When empty, everything not blocked is allowed."""
    blocked: list[str] = Field(default_factory=list)
    """Topic names the assistant refuses."""
    off_topic_above: Score = 0.362
    """How unlike every declared topic a message must be to count as off-topic (0..1)."""
    off_topic_action: TopicAction = "refuse"
    """What to do with a message about none of the allowed topics: `refuse` (with `message`), `escalate`, `log`."""
    blocked_action: TopicAction = "refuse"
    """What to do with a message about a blocked topic."""
    backend: Literal["embedding", "nli"] = "embedding"
    """`embedding`: few-shot on the built-in sentence encoder; `nli`: a zero-shot NLI model (pulled ahead of time)."""
    model: str | None = None
    """The NLI model's name for `backend: nli` (see `railguard models list`)."""


class IntentRule(Strict):
    above: Score = 0.7
    """The intent counts when its score is above this."""
    action: Literal["escalate", "log"] = "log"
    """`escalate`: send the conversation to human review; `log`: record an event."""


class Intents(Guard):
    """What the user is trying to do: `request_human`, `complaint`, `account_action`, `information`, `chitchat`, and
    any intents you add."""

    intents: list[TopicDeclaration] = Field(default_factory=list)
    """Intents to add, or examples to add to a built-in intent of the same name."""
    rules: dict[str, IntentRule] = Field(default_factory=lambda: {"request_human": IntentRule(above=0.7, action="log")})
    """What each detected intent does, e.g. `{complaint: {above: 0.75, action: log}}`. (Asking for a human is sent
    to review by `post_response.escalation.triggers.request_human`, which reads this guard's finding.)"""


class PreGenerationLayer(Strict):
    topics: Topics | None = None
    """Allowed and blocked subjects (off by default: a policy declares its own topics)."""
    intent: Intents = Intents()
    """Recognise what the user wants (asking for a human, complaining)."""


# ---------------------------------------------------------------------------------------------- layer 3: generation


class SystemPrompt(Guard):
    """A system prompt the client cannot remove."""

    text: str
    """The enforced instructions."""
    position: Literal["prepend", "append", "replace"] = "prepend"
    """`prepend`/`append`: add before/after the client's system messages; `replace`: drop the client's."""


class NumberCap(Guard):
    """A cap on a sampling parameter."""

    max: float = Field(ge=0)
    """Largest value allowed."""
    action: Literal["clamp", "reject"] = "clamp"
    """`clamp`: lower it to the cap; `reject`: refuse the request with a 400."""


class TokenCap(Guard):
    """A cap on generated tokens (`max_tokens`, `max_completion_tokens`, `max_output_tokens`)."""

    max: int = Field(ge=1)
    """Most tokens the upstream may generate."""
    action: Literal["clamp", "reject"] = "clamp"
    """`clamp`: lower it (and set it when the client did not); `reject`: refuse with a 400."""


class ModelList(Guard):
    """Which upstream models clients may use."""

    allow: list[str] = Field(default_factory=lambda: ["*"])
    """Model names or patterns (`gpt-4o*`) clients may ask for, after aliasing."""
    aliases: dict[str, str] = Field(default_factory=dict)
    """Names clients may use for a real model, e.g. `fast: gpt-4o-mini`."""


class ToolList(Guard):
    """Which tools/functions a request may offer the model."""

    allow: list[str] = Field(default_factory=lambda: ["*"])
    """Tool names or patterns that may be offered."""
    action: Literal["strip", "reject"] = "strip"
    """`strip`: remove other tools from the request; `reject`: refuse the request."""


class GenerationLayer(Strict):
    system_prompt: SystemPrompt | None = None
    temperature: NumberCap | None = None
    top_p: NumberCap | None = None
    max_tokens: TokenCap | None = None
    models: ModelList | None = None
    tools: ToolList | None = None


# ---------------------------------------------------------------------------------------------- layer 4: output


class Streaming(Strict):
    """How streamed answers are held back and checked."""

    window_chars: int = Field(400, ge=20, le=20_000)
    """Release text at the first sentence end after this many characters (or at a sentence end before it)."""
    max_window_chars: int = Field(1200, ge=40, le=50_000)
    """Never hold more than this many characters."""
    max_hold_ms: int = Field(1500, ge=10, le=60_000)
    """Check and release what is held after this long even mid-sentence."""
    context_chars: int = Field(600, ge=0, le=20_000)
    """Preceding released text given to the guards with each window."""

    @model_validator(mode="after")
    def _sizes(self) -> Streaming:
        if self.window_chars > self.max_window_chars:
            raise ValueError("window_chars must not be greater than max_window_chars")
        return self


class Faithfulness(ScoredGuard):
    """Is the answer supported by the documents the request supplied? The score is how unsupported the answer is
    (0..1); each unsupported claim is listed in the event. Requests without documents are not checked."""

    backend: Literal["offline", "nli"] = "offline"
    """`offline`: the built-in checker (sentence matching plus numbers, dates, names and negation); `nli`: an NLI
    cross-encoder pulled ahead of time (`railguard models pull`)."""
    model: str | None = None
    """The NLI model for `backend: nli` (see `railguard models list`); default deberta-v3-base-mnli-fever-anli."""
    context: list[Literal["documents", "tool", "system"]] = Field(
        default_factory=lambda: list[Literal["documents", "tool", "system"]](["documents", "tool"])
    )
    """What counts as the answer's sources: `documents` (sent with the request as `railguard.context`), `tool`
    (tool and function results in the conversation), `system` (the app's system messages)."""


ToxicityLabel = Literal[
    "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit"
]
# Friendlier names accepted in policies for the offline head's labels.
_TOXICITY_ALIASES = {"hate": "identity_attack", "offensive": "insult"}


class Toxicity(ScoredGuard):
    """Toxic language in the answer. The guard's own thresholds apply to the overall `toxicity` score; `labels` adds
    thresholds per label (a label the backend does not produce is ignored). The strongest action reached wins."""

    backend: Literal["offline", "detoxify"] = "offline"
    """`offline`: the shipped head (hashed n-grams plus the shared encoder; labels toxicity, identity_attack,
    insult); `detoxify`: a detoxify checkpoint pulled ahead of time (`railguard models pull detoxify-original` and its
    `detoxify-base-*` config)."""
    model: Literal["original", "unbiased", "multilingual"] = "original"
    """The detoxify checkpoint for `backend: detoxify`."""
    labels: dict[ToxicityLabel, Thresholds] = Field(
        default_factory=lambda: dict[ToxicityLabel, Thresholds]({"identity_attack": Thresholds(block_above=0.8029)})
    )
    """Per-label thresholds, by detoxify's label names (`hate` may be written for `identity_attack`, `offensive` for
    `insult`)."""

    @field_validator("labels", mode="before")
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_TOXICITY_ALIASES.get(k, k): v for k, v in value.items()}
        return value


class Format(Guard):
    """The answer's shape: JSON that parses and matches the request's `response_format` schema (chat completions
    `response_format`, Responses `text.format`), plus the policy's own regex, length and language rules.
    Streamed answers that must be JSON are held back whole and checked at the end; other streamed rules that need the
    whole answer (`must_match`, `min_chars`, `languages`) are checked on its last window."""

    response_format: bool = True
    """Check answers against the request's `json_schema` / `json_object` response format."""
    must_match: list[str] = Field(default_factory=list)
    """Regular expressions the answer must match (each searched anywhere in it)."""
    must_not_match: list[str] = Field(default_factory=list)
    """Regular expressions the answer must not match."""
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=1)
    languages: list[str] = Field(default_factory=list)
    """Allowed languages (ISO 639-1 codes, e.g. `en`); answers shorter than 20 characters are not judged."""
    action: Literal["block", "escalate", "reask"] = "block"
    """On failure: `block`, `escalate` (deliver and send to review), or `reask`: ask the upstream once more with the
    validation errors (non-streamed requests; a streamed one, or a second failure, is blocked)."""
    reask_prompt: str = (
        "Your previous answer does not have the required format: {errors}. "
        "Answer again, following the required format exactly."
    )
    """The message sent upstream with a re-ask; `{errors}` is replaced by the validation errors."""

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class OutputLayer(Strict):
    terms: TermList = TermList(enabled=False)
    """Deny-listed words and phrases in the answer."""
    pii_leakage: PiiLeakage = PiiLeakage()
    """Personal data in the answer that the user did not give."""
    toxicity: Toxicity = Toxicity(block_above=0.6704)
    """Toxic language in the answer (hate, insults, profanity)."""
    faithfulness: Faithfulness = Faithfulness(log_above=0.56, escalate_above=0.981)
    """Answers checked against the documents the request supplied."""
    format: Format = Format()
    """JSON answers checked against the request's schema; regex, length and language rules."""

    streaming: Streaming = Streaming()
    """How streamed answers are windowed."""


# ---------------------------------------------------------------------------------------------- layer 5: post-response


Priority = Literal["low", "normal", "high", "urgent"]
Presentation = Literal["answer", "notice", "handoff"]
ReviewVerdict = Literal["correct_block", "false_positive", "missed_harm", "fine"]


class Confidence(Guard):
    """A confidence in 0..1 for every answer (how likely it is acceptable: supported, safe, complete), from what the
    guards measured. Returned in the `x-railguard-confidence` header (streams: a closing SSE comment) and recorded."""


class Trigger(Strict):
    """Settings every escalation trigger has."""

    enabled: bool = True
    """Turn this trigger off without deleting its settings."""
    priority: Priority = "normal"
    """How urgent the review is: `low`, `normal`, `high`, `urgent`."""
    show: Presentation = "answer"
    """What the user sees when this trigger fires: `answer` (unchanged), `notice` (the answer plus the policy's
    `notice`), `handoff` (the policy's `handoff_message` instead of the answer). The strongest choice among the
    triggers that fire wins. A streamed answer cannot be taken back once shown: a hand-off decided at its end is
    added as a notice."""
    notify: list[str] = Field(default_factory=list)
    """Names of notifiers (from `notifiers`) told when this trigger fires."""


class LowConfidenceTrigger(Trigger):
    """Escalate answers whose confidence is below a threshold."""

    below: Score = 0.2
    """Escalate when the answer's confidence is below this."""


class ViolationTrigger(Trigger):
    """Escalate exchanges a guard blocked or escalated (enforced decisions only; monitor mode records but does not
    queue)."""

    priority: Priority = "high"
    blocks: bool = True
    """Queue enforced blocks (the user already saw the refusal; reviewers judge whether the block was right)."""
    escalations: bool = True
    """Queue answers a guard let through with `escalate`."""


def human_request_phrases() -> list[str]:
    """The default phrases: every way of asking followed by everyone asked for ("talk to" + "a real person"), plus
    short requests."""
    asking = [
        "speak to", "speak with", "talk to", "talk with", "chat with", "connect me to", "connect me with",
        "transfer me to", "put me through to", "pass me to", "hand me over to", "escalate this to", "get me",
        "give me", "i want", "i need", "i'd like", "can i get",
    ]  # fmt: skip
    who = [
        "a human", "a human being", "a real human", "human", "a person", "a real person", "an actual person",
        "a live person", "someone", "somebody", "a live agent", "an agent", "a real agent", "a representative",
        "a manager", "manager", "a supervisor", "an operator", "a live operator", "your staff", "your support staff",
        "customer service", "customer care", "customer support", "a colleague", "one of your employees",
        "an employee",
    ]  # fmt: skip
    short = ["human please", "agent please", "operator please", "live agent", "human agent", "real human please"]
    return [f"{verb} {person}" for verb in asking for person in who] + short


class HumanRequestTrigger(Trigger):
    """Escalate when the user asks for a human. Uses the intent detector when it is installed, else the phrases."""

    show: Presentation = "notice"
    phrases: list[str] = Field(default_factory=lambda: human_request_phrases())
    """Phrases (whole words, any case) that count as asking for a human when no intent detector is installed."""
    intent_above: Score = 0.5
    """With the intent detector: escalate when its `request_human` score is above this."""


class ProbingTrigger(Trigger):
    """Escalate a user (or session) who keeps hitting guards or keeps sending near-identical requests."""

    priority: Priority = "high"
    window_seconds: int = Field(60, ge=1, le=86_400)
    """The sliding window the counts cover."""
    max_guard_hits: int = Field(10, ge=1)
    """Escalate when more than this many requests in the window were blocked or escalated by a guard."""
    max_similar: int = Field(10, ge=1)
    """Escalate when more than this many requests in the window were near-identical (same text after lower-casing
    and dropping punctuation, digits and extra spaces)."""


class Triggers(Strict):
    low_confidence: LowConfidenceTrigger = LowConfidenceTrigger()
    """Answers the guards are unsure about."""
    violation: ViolationTrigger = ViolationTrigger()
    """Blocks and escalations by any guard (safety)."""
    request_human: HumanRequestTrigger = HumanRequestTrigger()
    """The user asks for a person."""
    repeated_probing: ProbingTrigger = ProbingTrigger()
    """Many guard hits or near-identical requests from one user or session."""


class Escalation(Guard):
    """Send exchanges to human review when a trigger fires, tell the named notifiers, and choose what the user sees."""

    triggers: Triggers = Triggers()
    notice: str = "A member of our team may review this conversation."
    """Added after the answer when a trigger's `show` is `notice`."""
    handoff_message: str = "I've passed this conversation to a member of our team, who will get back to you."
    """Shown instead of the answer when a trigger's `show` is `handoff`."""


class WebhookNotifier(Strict):
    """POST a JSON description of the escalation, signed with HMAC-SHA256 (header `x-railguard-signature`)."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = None
    """Name of the environment variable that holds the signing secret (secrets never go in policy files)."""
    attempts: int = Field(4, ge=1, le=10)
    """Tries before giving up (exponential backoff with jitter between them)."""
    timeout_ms: int = Field(5000, ge=100, le=60_000)


class SlackNotifier(Strict):
    """Post a message to a Slack (or compatible) incoming webhook."""

    type: Literal["slack"]
    url: str = Field(pattern=r"^https?://")
    attempts: int = Field(4, ge=1, le=10)
    timeout_ms: int = Field(5000, ge=100, le=60_000)


class EmailNotifier(Strict):
    """Send an e-mail over SMTP."""

    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    """The From address."""
    to: list[str] = Field(min_length=1)
    starttls: bool = True
    """Upgrade the connection with STARTTLS (turn off only for a local relay)."""
    username: str | None = None
    password_env: str | None = None
    """Name of the environment variable that holds the SMTP password."""
    subject_prefix: str = "[railguard]"
    attempts: int = Field(4, ge=1, le=10)
    timeout_ms: int = Field(10_000, ge=100, le=60_000)


Notifier = Annotated[WebhookNotifier | SlackNotifier | EmailNotifier, Field(discriminator="type")]


class Learning(Strict):
    """What reviewers' verdicts teach the guards. Entries are stored with the review queue (shared by every replica),
    recorded as events and removable (`DELETE /admin/memory/{id}`)."""

    enabled: bool = True
    attack_verdicts: list[ReviewVerdict] = Field(
        default_factory=lambda: list[ReviewVerdict](["missed_harm", "correct_block"])
    )
    """Verdicts that add the (masked) prompt to the attack memory."""
    allow_verdicts: list[ReviewVerdict] = Field(default_factory=lambda: list[ReviewVerdict](["false_positive"]))
    """Verdicts that add the (masked) prompt to the allow memory."""
    only_injection: bool = True
    """Learn only from reviews about prompt injection (an injection or attack-memory finding, or the reviewer says
    `category: injection`)."""


class PostResponseLayer(Strict):
    confidence: Confidence = Confidence()
    """Score every answer."""
    escalation: Escalation = Escalation()
    """Triggers, review queue and what the user sees on escalation."""
    notifiers: dict[str, Notifier] = Field(default_factory=dict)
    """Named notifiers that triggers refer to by name."""
    learning: Learning = Learning()
    """Learning from reviewers' verdicts."""

    def notifier_references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every notifier name a trigger refers to, with where it sits (checked by the loader after inheritance)."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for trigger in Triggers.model_fields:
            for index, name in enumerate(getattr(self.escalation.triggers, trigger).notify):
                found.append((("post_response", "escalation", "triggers", trigger, "notify", index), name))
        return found


# ---------------------------------------------------------------------------------------------- the policy


class Match(Strict):
    """Which requests a policy applies to. Patterns may use `*` and `?`. The most specific matching policy wins."""

    tenants: list[str] = Field(default_factory=lambda: ["*"])
    routes: list[str] = Field(default_factory=lambda: ["*"])
    """Request paths, e.g. `/v1/chat/completions` or `/v1/*`."""
    models: list[str] = Field(default_factory=lambda: ["*"])
    """Model names as the client sends them."""

    def matches(self, tenant: str, route: str, model: str) -> bool:
        return _any_match(self.tenants, tenant) and _any_match(self.routes, route) and _any_match(self.models, model)

    def specificity(self, tenant: str, route: str, model: str) -> int:
        """Higher is more specific: per dimension 2 for an exact name, 1 for a pattern, 0 for `*`."""
        return sum(
            _best_specificity(patterns, value)
            for patterns, value in ((self.tenants, tenant), (self.routes, route), (self.models, model))
        )


def pattern_specificity(pattern: str) -> int:
    if pattern == "*":
        return 0
    return 1 if any(ch in pattern for ch in "*?[") else 2


def _any_match(patterns: list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _best_specificity(patterns: list[str], value: str) -> int:
    return max((pattern_specificity(p) for p in patterns if fnmatch.fnmatchcase(value, p)), default=0)


class Refusal(Strict):
    """What the client gets when a guard blocks."""

    style: Literal["error", "message"] = "error"
    """`error`: a 400 with code `content_filter` (the SDK raises BadRequestError); `message`: a normal 200 answer
    whose text is `message`."""
    message: str = "This request was blocked by the content policy."
    """The text shown to the user."""


class Policy(Strict):
    """A Railguard policy file."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    """Defaults to the file name without `.yaml`."""
    description: str = ""
    extends: str | None = None
    """Name of a policy this one starts from; its settings are inherited and this file overrides them."""
    match: Match | None = None
    """Which requests this policy serves. Without `match` a policy is only a base for others (except `default`,
    the fallback)."""
    mode: Mode = Mode.ENFORCE
    """`monitor`: every guard runs and records what it would have done; nothing is blocked or changed."""
    on_error: OnError = OnError.BLOCK
    """Default for guards that fail: `block` (fail closed) or `allow` (fail open)."""
    refusal: Refusal = Refusal()
    input: InputLayer = InputLayer()
    pre_generation: PreGenerationLayer = PreGenerationLayer()
    generation: GenerationLayer = GenerationLayer()
    output: OutputLayer = OutputLayer()
    post_response: PostResponseLayer = PostResponseLayer()

    def guard_mode(self, guard: Guard) -> Mode:
        return Mode.MONITOR if self.mode is Mode.MONITOR else guard.mode or self.mode

    def guard_on_error(self, guard: Guard) -> OnError:
        return guard.on_error or self.on_error


# Keys that a policy never inherits from the one it extends.
NOT_INHERITED = frozenset({"name", "extends", "match", "description"})

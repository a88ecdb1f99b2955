from tests.escalation.backends import review_backend

__all__ = ["review_backend"]

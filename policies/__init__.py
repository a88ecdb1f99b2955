"""The policy language: schema (one source of truth), loader with line-numbered errors, inheritance, matching and
hot reload. Policies decide; they never touch HTTP."""

from policies.loader import PolicyError, PolicyProblem, PolicySet, ResolvedPolicy, load_policy_set
from policies.schema import Action, Mode, OnError, Policy

__all__ = [
    "Action",
    "Mode",
    "OnError",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "PolicySet",
    "ResolvedPolicy",
    "load_policy_set",
]

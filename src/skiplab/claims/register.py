"""`python -m skiplab.claims.register register|check|show`: register claim rules in skiplab/claims/rules.json and
check them (the registry itself is skiplab.claims.core.registry, which imports no chapter)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from skiplab.claims import CLAIMS, get_claim
from skiplab.claims.core.registry import REGISTRY, describe, load, register, registered_at, rule_closure, status
from skiplab.errors import SkiplabError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skiplab.claims.register",
                                     description="Register claim rules (skiplab/claims/rules.json) and check them.")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="append an entry for every named (default: every) claim whose rule "
                                          "hash changed")
    reg.add_argument("ids", nargs="*")
    reg.add_argument("--reason", default="", help="why the rule is registered or changed (required)")
    reg.add_argument("--amend", action="store_true", help="replace the latest entry if it is not committed yet")
    chk = sub.add_parser("check", help="each claim's status; exit 1 if one is unregistered")
    chk.add_argument("ids", nargs="*")
    show = sub.add_parser("show", help="what a claim's rule hash covers")
    show.add_argument("id")
    args = parser.parse_args(argv)
    try:
        if args.command == "register":
            chosen = {c: get_claim(c) for c in args.ids} if args.ids else dict(CLAIMS)
            written = register(chosen, args.reason, amend=args.amend)
            for cid, h in written:
                print(f"{cid}: registered {h}")
            print(f"{len(written)} entr{'y' if len(written) == 1 else 'ies'} written to {REGISTRY}")
            return 0
        if args.command == "show":
            for key, text in rule_closure(get_claim(args.id)).items():
                print(f"== {key}\n{text.rstrip()}")
            return 0
        modules = [get_claim(c) for c in args.ids] if args.ids else list(CLAIMS.values())
        registry, added = load(), registered_at()
        bad = 0
        for m in modules:
            st = status(m, registry=registry, added=added)
            bad += st["status"] == "unregistered"
            print(f"{m.CLAIM.id:<28} {st['status']:<13} {st['hash']}  {describe(st)}")
        if bad:
            print(f'{bad} rule(s) unregistered: python -m skiplab.claims.register register --reason "why" '
                  f"[ids]", file=sys.stderr)
        return 1 if bad else 0
    except SkiplabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`campuscard pii rotate`: personal data re-encrypted under the current key (#18 item 7, docs/operations.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from campuscard.core import crypto


class Command(BaseCommand):
    help = ("Personal data at rest. 'rotate': re-encrypt every row under the first of PII_KEYS and recompute the "
            "blind indexes under the first PII_INDEX_KEY, in batches (rows already current are skipped).")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        rotate = sub.add_parser("rotate", help="re-encrypt under the current keys")
        rotate.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")

    def handle(self, *args, action: str, batch: int = 500, **options):
        bars: dict[str, tqdm] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in bars:
                bars[label] = tqdm(total=total, desc=label, unit="rows", file=self.stderr._out)
            bars[label].update(done - bars[label].n)

        rewritten = crypto.rotate(batch=max(1, batch), progress=progress)
        for bar in bars.values():
            bar.close()
        for label, count in rewritten.items():
            self.stdout.write(f"{label}: {count} rewritten")
        self.stdout.write(self.style.SUCCESS(f"Rotation done: {sum(rewritten.values())} rows rewritten."))

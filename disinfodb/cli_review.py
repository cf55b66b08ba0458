"""(Being written.)"""

from __future__ import annotations

import typer

review_app = typer.Typer(help="Weekly review digests.", no_args_is_help=True)

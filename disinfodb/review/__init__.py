"""The weekly review: digests of one issue."""

from disinfodb.review.digest import *  # noqa: F403

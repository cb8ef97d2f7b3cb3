"""python -m review < preview.jsonl: the same as python -m review.summary."""

import sys

from review.summary import main

sys.exit(main())

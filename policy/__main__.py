"""What ``pulumi preview --policy-pack policy`` runs: the pack, serving the engine until it is stopped.

The CLI runs the pack's folder as a script (``python -m pulumi.policy ENGINE policy`` runs it with
``runpy``), so the folder itself heads ``sys.path`` and ``policy`` is no package there. Its parent, the
repository, goes on the path first, so the pack imports ``policy.rules`` as the tests and ``offline/`` do.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.pack import PACK_NAME, policies

PolicyPack(PACK_NAME, policies=policies())

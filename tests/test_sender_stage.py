"""Issue 10 item 10, the sender's side: a stage of ``..`` never becomes an @connections URL.

The sender (``ws_routes/sending``, being split into a package on another branch) must call
``contract.valid_stage``; until that one line lands these tests are expected failures (strict:
they turn red the moment the line is in, to remove the marker).
"""

from __future__ import annotations

import pytest

from ws_routes.sending import management_endpoint

pending = pytest.mark.xfail(
    strict=True, reason="sender: replace _STAGE_RE.fullmatch(stage or '') with valid_stage(stage)"
)


@pending
@pytest.mark.parametrize("stage", ["..", ".", "..."])
def test_the_sender_refuses_dot_segment_stages(stage):
    with pytest.raises(ValueError, match="stage"):
        management_endpoint("abc123", stage, "eu-west-2")


def test_the_sender_still_builds_ordinary_stage_urls():
    assert management_endpoint("abc123", "prod", "eu-west-2") == (
        "https://abc123.execute-api.eu-west-2.amazonaws.com/prod"
    )

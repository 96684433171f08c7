"""Issue 10 item 10, the sender's side: a stage of ``..`` never becomes an @connections URL.

The sender builds the URL with ``contract.valid_stage``, the check the view uses.
"""

from __future__ import annotations

import pytest

from ws_routes.sending import management_endpoint


@pytest.mark.parametrize("stage", ["..", ".", "..."])
def test_the_sender_refuses_dot_segment_stages(stage):
    with pytest.raises(ValueError, match="stage"):
        management_endpoint("abc123", stage, "eu-west-2")


def test_the_sender_still_builds_ordinary_stage_urls():
    assert management_endpoint("abc123", "prod", "eu-west-2") == (
        "https://abc123.execute-api.eu-west-2.amazonaws.com/prod"
    )

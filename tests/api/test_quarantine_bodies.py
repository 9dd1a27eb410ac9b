"""The quarantine keeps every refused request as it came, also what orjson cannot write
(issue 14: integers over 64 bits and lone surrogates were dropped)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient


def test_refused_bodies_with_huge_integers_and_lone_surrogates_are_kept_and_listed(
    http: TestClient,
) -> None:
    huge = b'{"eventName": "pe1_nothing", "properties": {"n": 1180591620717411303424}}'
    lone = b'{"eventName": "pe1_nothing", "properties": {"s": "a\\ud800b"}}'
    batch = (
        b'{"inputs": [{"eventName": "pe1_nothing", "properties": {"m": -36893488147419103232}}]}'
    )
    for path, body in (("", huge), ("", lone), ("/batch", batch)):
        answer = http.post(
            f"/events/v3/send{path}", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, answer.text

    listed = http.get("/cbe/v1/rejections")
    assert listed.status_code == 200
    kept = json.loads(listed.content)["results"]
    assert [r["body"] for r in kept] == [json.loads(batch), json.loads(lone), json.loads(huge)]
    assert kept[2]["body"]["properties"]["n"] == 2**70
    assert kept[1]["body"]["properties"]["s"] == "a\ud800b"

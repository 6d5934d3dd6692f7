"""JSON that dockerd could read differently from the proxy is refused."""

from __future__ import annotations

import pytest

from aidock.dockerproxy import strictjson


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b'{"Privileged": false, "Privileged": true}', "json-duplicate-key"),
        (b'{"HostConfig": {"Privileged": false, "privileged": true}}', "json-key-case"),
        (b'{"Labels": {"a": "1", "A": "2"}}', "json-key-case"),
        (b'[{"x": 1, "x": 2}]', "json-duplicate-key"),
        (b'{"Memory": NaN}', "json-invalid"),
        (b'{"Memory": Infinity}', "json-invalid"),
        (b"{", "json-invalid"),
        (b"\xff", "json-invalid"),
        (b"[" * 40 + b"]" * 40, "json-invalid"),
    ],
)
def test_refused(raw: bytes, rule: str) -> None:
    with pytest.raises(strictjson.JsonRefused) as caught:
        strictjson.loads(raw)
    assert caught.value.rule == rule


def test_round_trip_is_canonical() -> None:
    value = strictjson.loads(b'{"b": [1, true, null], "a": "\\u00e9"}')
    assert strictjson.dumps(value) == b'{"b":[1,true,null],"a":"\\u00e9"}'

"""Home Assistant MQTT discovery: the configs (a device per camera, Home Assistant's
topic and key schema), the flag, a removed camera's configs cleared, and a real run on a
real broker whose configs and state messages agree (every state message renders with
its config's value template)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streampose.cli import build_parser
from streampose.config.arguments import given_values
from streampose.config.build import build_config
from streampose.config.sections import MqttConfig
from streampose.errors import ConfigError
from streampose.mqtt.discovery import Discovery, LineRef, line_refs, safe_id
from streampose.mqtt.status import StatusPublisher
from streampose.mqtt.url import parse_broker_url
from tests.broker import Message, Mosquitto, Subscriber, settle
from tests.mqtt.templates import render
from tests.support.cli import run_cli
from tests.support.shared import shared_file

CONFIG_TOPIC = re.compile(r"^(?P<prefix>.+)/(?P<component>sensor|binary_sensor)/"
                          r"(?P<node_id>[A-Za-z0-9_-]+)/(?P<object_id>[A-Za-z0-9_-]+)/config$")
BASE = ["run", "in.mp4", "--model", "m.onnx", "--mqtt", "mqtt://127.0.0.1"]


def discovery(**kwargs: Any) -> Discovery:
    return Discovery(prefix="homeassistant", url=parse_broker_url("mqtt://h/sp"),
                     node="box1", **kwargs)


def parsed(configs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Object id -> config, checking each topic against Home Assistant's schema."""
    out = {}
    for topic, text in configs.items():
        found = CONFIG_TOPIC.match(topic)
        assert found is not None, topic
        out[found["object_id"]] = json.loads(text)
    return out


# -- the configs -------------------------------------------------------------------------


def test_a_camera_is_one_device_with_its_entities() -> None:
    lines = (LineRef("door"), LineRef("gate", camera="other"))
    configs = parsed(discovery(lines=lines, fall=True).configs("lobby.cam"))
    assert sorted(configs) == ["fall", "last_event", "line_door_in", "line_door_out",
                               "online", "people"]  # gate is another camera's line
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    (device,) = map(json.loads, devices)
    assert device["identifiers"] == ["sp_lobby_cam"] and device["name"] == "lobby.cam"
    assert {"model", "manufacturer"} <= device.keys()
    ids = [c["unique_id"] for c in configs.values()]
    assert len(set(ids)) == len(ids)
    people = configs["people"]
    assert (people["state_topic"], people["value_template"], people["state_class"]) == \
        ("sp/lobby.cam/state", "{{ value_json.people }}", "measurement")
    assert configs["line_door_in"]["value_template"] == \
        '{{ value_json.lines["door"]["in"] }}'
    assert configs["line_door_in"]["state_class"] == "total_increasing"
    assert configs["last_event"]["state_topic"] == "sp/lobby.cam/events"
    assert (configs["fall"]["payload_on"], configs["fall"]["device_class"]) == \
        ("ON", "safety")


def test_availability_is_the_node_s_and_the_camera_s() -> None:
    configs = parsed(discovery().configs("lobby"))
    both = [a["topic"] for a in configs["people"]["availability"]]
    assert both == ["sp/node/box1/availability", "sp/lobby/availability"]
    assert configs["people"]["availability_mode"] == "all"
    for config in configs.values():
        for entry in config["availability"]:
            assert (entry["payload_available"], entry["payload_not_available"]) == \
                ("online", "offline")
    online = configs["online"]  # the camera's own availability is its state
    assert online["state_topic"] == "sp/lobby/availability"
    assert [a["topic"] for a in online["availability"]] == ["sp/node/box1/availability"]
    assert (online["payload_on"], online["payload_off"]) == ("online", "offline")


def test_no_fall_no_lines_no_such_entities() -> None:
    assert sorted(parsed(discovery().configs("lobby"))) == ["last_event", "online", "people"]


def test_ids_keep_to_home_assistant_s_characters() -> None:
    assert safe_id("sp/x_127.0.0.1-8554 cam") == "sp_x_127_0_0_1-8554_cam"
    assert line_refs([{"name": "a", "points": [0]}, {"name": "b", "camera": "c"}]) == \
        (LineRef("a"), LineRef("b", "c"))


# -- the flag ------------------------------------------------------------------------------


def _mqtt(*flags: str) -> MqttConfig:
    return build_config({}, given_values(build_parser().parse_args([*BASE, *flags]))).mqtt


def test_the_flag_s_prefix_is_optional() -> None:
    assert _mqtt().discovery is None
    assert _mqtt("--mqtt-discovery").discovery == "homeassistant"
    assert _mqtt("--mqtt-discovery", "ha/test").discovery == "ha/test"


@pytest.mark.parametrize(("values", "message"), [
    ({"url": "mqtt://h", "discovery": "clip.mp4"}, "a topic prefix"),
    ({"discovery": "homeassistant"}, "needs --mqtt URL"),
])
def test_bad_discovery_settings(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MqttConfig(**values)


# -- on a real broker --------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


def retained_configs(broker: Mosquitto) -> dict[str, str]:
    """The discovery configs a newcomer finds (retained, non-empty)."""
    newcomer = Subscriber(broker, "#")
    try:
        settle(newcomer, broker)
        return {m.topic: m.text for m in newcomer.messages
                if m.topic.startswith("homeassistant/") and m.retain and m.text}
    finally:
        newcomer.close()


def test_a_camera_that_leaves_has_its_configs_cleared(broker: Mosquitto) -> None:
    config = MqttConfig(url=broker.url(prefix="p"), node="n1", discovery="homeassistant",
                        status_interval_s=3600.0)
    status = StatusPublisher(config, cameras=["a", "b"], lines=[{"name": "door"}])
    with status:
        status.update(0.5, [{"state": "online"}, {"state": "online"}])
        status.publisher.wait_retained(10.0)  # type: ignore[union-attr]
        before = retained_configs(broker)
        assert {CONFIG_TOPIC.match(t)["node_id"] for t in before} == {"p_a", "p_b"}  # type: ignore[index]
        status.rename(1, "c")  # b's seat now carries c (a cameras file change)
        status.publisher.wait_retained(10.0)  # type: ignore[union-attr]
        after = retained_configs(broker)
        status.rename(1, "a")  # a changed seats (a seat takes it before the other frees it)
        status.rename(0, "")
        status.publisher.wait_retained(10.0)  # type: ignore[union-attr]
        last = retained_configs(broker)
    assert {CONFIG_TOPIC.match(t)["node_id"] for t in after} == {"p_a", "p_c"}  # type: ignore[index]
    assert len(after) == len(before) == 2 * 5  # people, online, last event, door in/out
    assert {CONFIG_TOPIC.match(t)["node_id"] for t in last} == {"p_a"}  # type: ignore[index]


def state_messages(sub: Subscriber, config: dict[str, Any]) -> list[Message]:
    return [m for m in sub.on(config["state_topic"]) if m.text]


@pytest.mark.slow
@pytest.mark.shared
def test_a_run_s_configs_and_states_agree(tmp_path: Path, broker: Mosquitto) -> None:
    """vtest with the real model, a line the first walker crosses (frame ~12), a line
    nobody crosses, and the fall rule: every retained config parses, names state and
    availability topics that got messages, and every state message renders with its
    value template to a value the entity takes."""
    video = shared_file("media/vtest.mp4")
    model = shared_file("models/openpose-mnthin-coco18.onnx")
    sub = Subscriber(broker, "#")
    try:
        result = run_cli("run", str(video), "--model", str(model), "--height", "480",
                         "--max-frames", "25", "--line", "walkway:200,240,200,110",
                         "--line", "roof:10,10,100,10", "--fall",
                         "--events", str(tmp_path / "events.jsonl"), "--no-progress",
                         "--mqtt", broker.url(), "--mqtt-node", "box1", "--mqtt-discovery",
                         timeout=1800)
        assert result.returncode == 0, result.stderr
        settle(sub, broker)
        configs = parsed(retained_configs(broker))
        assert sorted(configs) == ["fall", "last_event", "line_roof_in", "line_roof_out",
                                   "line_walkway_in", "line_walkway_out", "online",
                                   "people"]
        for object_id, config in configs.items():
            check_entity(sub, object_id, config)
        events = [json.loads(line) for line in
                  (tmp_path / "events.jsonl").read_text().splitlines()]
        check_counts(sub, configs, events)
    finally:
        sub.close()


def check_entity(sub: Subscriber, object_id: str, config: dict[str, Any]) -> None:
    """The entity's state and availability topics got messages its config reads."""
    for entry in config["availability"]:
        said = {m.text for m in sub.on(entry["topic"])}
        assert said and said <= {entry["payload_available"],
                                 entry["payload_not_available"]}, (object_id, entry)
    states = state_messages(sub, config)
    if object_id == "last_event":
        assert states, "the walker's line event"
    else:
        assert states, f"{object_id}: nothing on {config['state_topic']}"
    for message in states:
        value = render(config.get("value_template"), message.text)
        if "payload_on" in config:
            assert value in (config["payload_on"], config["payload_off"]), (object_id, value)
        elif "state_class" in config:
            assert int(value) >= 0, (object_id, value)
        else:
            assert value in ("line", "fall"), (object_id, value)


def check_counts(sub: Subscriber, configs: dict[str, Any], events: list[dict[str, Any]]
                 ) -> None:
    """The last states say what the run's events and last published poses say."""
    def last(object_id: str) -> str:
        config = configs[object_id]
        return render(config.get("value_template"), state_messages(sub, config)[-1].text)

    crossings = [e for e in events if e["type"] == "line"]
    assert crossings, "the walker crosses the walkway line"
    assert int(last("line_walkway_in")) == sum(e["direction"] == "in" for e in crossings)
    assert int(last("line_walkway_out")) == sum(e["direction"] == "out" for e in crossings)
    assert last("line_roof_in") == last("line_roof_out") == "0"
    assert last("last_event") == events[-1]["type"]
    poses = [json.loads(m.text) for m in sub.on("streampose/vtest/poses")]
    assert int(last("people")) == len(poses[-1]["persons"])
    if not any(e["type"] == "fall" for e in events):  # nobody falls in these frames
        falls = [render(configs["fall"]["value_template"], m.text)
                 for m in state_messages(sub, configs["fall"])]
        assert set(falls) == {"OFF"}
    assert last("online") == "offline"  # the run ended

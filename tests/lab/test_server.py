# The lab's server without a browser (starlette's TestClient): the token, the files it serves,
# upload limits, controls reaching the trainer, and the event stream.
import io
import json
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.lab.conftest import TOKEN, settled_step, wait_for

testclient = pytest.importorskip("starlette.testclient")
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from volnet.explain import grad_cam, saliency_map  # noqa: E402
from volnet.lab import server  # noqa: E402
from volnet.lab.wire import unpicture  # noqa: E402
from volnet.layers import Conv2D  # noqa: E402
from volnet.models.numbering import layer_names  # noqa: E402
from volnet.models.serialize import load_model  # noqa: E402


@pytest.fixture(scope="module")
def client(lab):
    with testclient.TestClient(server.create_app(lab, TOKEN)) as client:
        yield client


@pytest.fixture
def resume_after(lab):
    yield
    lab.control({"action": "resume"})


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("path", ["/", "/state", "/static/lab.js", "/snapshot", "/static/nothing"])
@pytest.mark.parametrize("given", [{}, {"params": {"token": "wrong"}}, {"headers": {"X-Volnet-Token": TOKEN[:-1]}},
                                   {"cookies": {server.COOKIE: ""}}])
def test_every_request_without_the_token_is_refused(lab, path, given):
    with testclient.TestClient(server.create_app(lab, TOKEN)) as fresh:  # no cookie from an earlier test
        fresh.cookies.update(given.pop("cookies", {}))
        response = fresh.get(path, **given)
    assert response.status_code == 403 and "token" in response.text
    assert "volnet lab" in response.text and "def " not in response.text


@pytest.mark.parametrize("method, path", [("post", "/control"), ("post", "/upload"), ("post", "/model"),
                                          ("post", "/probe"), ("post", "/restart")])
def test_posts_without_the_token_change_nothing(lab, method, path):
    lr = lab.trainer.optimizer.lr
    with testclient.TestClient(server.create_app(lab, TOKEN)) as fresh:
        response = getattr(fresh, method)(path, json={"lr": 0.5, "action": "pause"})
    assert response.status_code == 403
    assert lab.trainer.optimizer.lr == lr and not lab.paused


def test_the_token_opens_the_page_and_its_cookie_its_assets(lab):
    with testclient.TestClient(server.create_app(lab, TOKEN)) as fresh:
        page = fresh.get("/", params={"token": TOKEN})
        assert page.status_code == 200 and "<title>volnet lab</title>" in page.text
        assert "samesite=strict" in page.headers["set-cookie"].lower() and "httponly" in page.headers["set-cookie"].lower()
        script = fresh.get("/static/lab.js")  # the cookie alone
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert fresh.get("/state", headers={"X-Volnet-Token": TOKEN}).json()["dataset"] == "sample"


def test_the_page_fetches_nothing_from_elsewhere():
    files = server.static_files()
    assert set(files) == {"index.html", "lab.js", "lab.css"}
    for name, content in files.items():
        assert not re.search(rb"(https?|wss?):/|@import|url\(", content), name
    links = re.findall(rb'(?:src|href)="([^"]*)"', files["index.html"])
    assert sorted(links) == [b"data:,", b"snapshot", b"static/lab.css", b"static/lab.js"]


@pytest.mark.parametrize("path", ["/static/../session.py", "/static/%2e%2e/session.py", "/static/..%2fserver.py",
                                  "/static/%2e%2e%2f%2e%2e%2fpyproject.toml", "/static//etc/passwd",
                                  "/static/static/lab.js", "/static/..\\server.py", "/../pyproject.toml",
                                  "/static/__init__.py"])
def test_no_path_reads_a_file_beyond_the_pages_own(client, path):
    response = client.get(path, params={"token": TOKEN})
    assert response.status_code == 404
    assert "import" not in response.text and "[project]" not in response.text and "root:" not in response.text


def test_an_upload_over_the_limit_is_refused_before_it_is_decoded(client, monkeypatch):
    monkeypatch.setattr(server, "MAX_IMAGE_BYTES", 1000)
    response = client.post("/upload", params={"token": TOKEN}, content=b"\x89PNG" + bytes(5000))
    assert response.status_code == 413 and "larger than" in response.json()["error"]


def test_an_upload_that_is_not_an_image_gets_the_loaders_message(client):
    response = client.post("/upload", params={"token": TOKEN}, content=b"<html>not a picture</html>")
    assert response.status_code == 400 and "the uploaded image: Pillow cannot read this file" in response.json()["error"]


def test_an_image_of_too_many_pixels_is_refused(client):
    response = client.post("/upload", params={"token": TOKEN}, content=png(np.zeros((2100, 2100), np.uint8)))
    assert response.status_code == 400 and "2100×2100 pixels" in response.json()["error"]


def png_header(width, height):
    # a PNG that declares its size and holds no pixels: what a decompression bomb starts with
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height", [(3000, 3000), (20000, 20000)])
def test_an_image_that_declares_too_many_pixels_is_refused_before_decoding(client, width, height):
    response = client.post("/upload", params={"token": TOKEN}, content=png_header(width, height))
    assert response.status_code == 400
    assert f"{width}×{height} pixels" in response.json()["error"] or "decompression bomb" in response.json()["error"]


def test_an_uploaded_image_is_classified(client, lab):
    image = lab.data.test.images[5][0]
    response = client.post("/upload", params={"token": TOKEN}, content=png(np.kron(image, np.ones((3, 3), np.uint8))))
    answer = response.json()
    assert response.status_code == 200 and len(answer["top"]) == 3
    assert {name for name, _ in answer["top"]} <= set(lab.class_names)
    assert sum(p for _, p in answer["top"]) <= 1 + 1e-9
    assert lab.subject["title"] == "your image" and lab.subject["image"].shape == (1, 28, 28)


def test_controls_change_the_trainers_state(client, lab):
    answer = client.post("/control", params={"token": TOKEN},
                         json={"lr": "0.004", "weight_decay": "1e-4", "optimizer": "sgd", "momentum": "0.8"}).json()
    optimizer = lab.trainer.optimizer
    assert type(optimizer).__name__ == "SGD" and optimizer.lr == 0.004 and optimizer.momentum == 0.8
    assert optimizer.weight_decay == 1e-4 and answer["lr"] == 0.004 and answer["optimizer"] == "sgd"
    client.post("/control", params={"token": TOKEN}, json={"momentum": 0.5})
    assert lab.trainer.optimizer is optimizer and optimizer.momentum == 0.5  # the same rule keeps its velocity
    client.post("/control", params={"token": TOKEN}, json={"batch_size": 24, "optimizer": "adam"})
    assert lab.trainer.batch_size == 24 and type(lab.trainer.optimizer).__name__ == "Adam"
    assert lab.trainer.optimizer.lr == 0.004
    step = lab.trainer.step
    wait_for(lambda: lab.trainer.step > step + 2, what="training after the changes")


@pytest.mark.parametrize("values, message", [
    ({"lr": "-1"}, "--lr must be greater than 0, got -1.0"),
    ({"lr": "fast"}, "argument --lr: invalid float value: 'fast'"),
    ({"lr": "nan"}, "argument --lr: invalid float value: 'nan'"),
    ({"batch_size": "0"}, "--batch-size must be at least 1, got 0"),
    ({"batch_size": "1.5"}, "argument --batch-size: invalid int value: '1.5'"),
    ({"weight_decay": -0.1}, "--weight-decay must be at least 0, got -0.1"),
    ({"momentum": 1.5}, "--momentum must be at least 0 and less than 1, got 1.5"),
    ({"optimizer": "adma"}, "argument --optimizer: invalid choice: 'adma'"),
    ({"optimizer": "adam", "momentum": 0.9}, "--momentum applies to the optimizers sgd, momentum, nesterov, not adam"),
    ({"action": "jump"}, "unknown action 'jump'"),
    ({"speed": 3}, "unknown control 'speed'"),
])
def test_bad_control_values_get_the_clis_messages_and_change_nothing(client, lab, values, message):
    before = (lab.trainer.optimizer, lab.trainer.optimizer.lr, lab.trainer.batch_size, lab.paused)
    response = client.post("/control", params={"token": TOKEN}, json=values)
    assert response.status_code == 400 and message in response.json()["error"]
    assert (lab.trainer.optimizer, lab.trainer.optimizer.lr, lab.trainer.batch_size, lab.paused) == before


def test_not_json_is_a_clear_error(client):
    response = client.post("/control", params={"token": TOKEN}, content=b"lr=3")
    assert response.status_code == 400 and "not JSON" in response.json()["error"]


def test_pause_step_and_resume(client, lab, resume_after):
    client.post("/control", params={"token": TOKEN}, json={"action": "pause"})
    step = settled_step(lab)
    wait_for(lambda: lab.trainer.step == step, what="the pause")  # nothing moves while paused
    import time
    time.sleep(0.5)
    assert lab.trainer.step == step
    client.post("/control", params={"token": TOKEN}, json={"action": "step"})
    wait_for(lambda: lab.trainer.step == step + 1, what="one step")
    time.sleep(0.5)
    assert lab.trainer.step == step + 1 and lab.paused
    client.post("/control", params={"token": TOKEN}, json={"action": "resume"})
    wait_for(lambda: lab.trainer.step > step + 3, what="training after resume")


def test_a_bad_architecture_gets_volnets_message_and_keeps_the_model(client, lab):
    model = lab.model
    response = client.post("/restart", params={"token": TOKEN}, json={"architecture": "conv3-8 relu conf3-8 fc10"})
    assert response.status_code == 400 and "unknown word 'conf3-8'" in response.json()["error"]
    response = client.post("/restart", params={"token": TOKEN}, json={"architecture": "conv3-8 relu fc7"})
    assert response.status_code == 400 and "end the architecture with fc10" in response.json()["error"]
    assert lab.model is model


def test_probes_explain_the_numbers_of_the_input_looked_at(client, lab):
    conv = client.post("/probe", params={"token": TOKEN}, json={"kind": "neuron", "layer": 1, "d": 2, "row": 0, "col": 5})
    answer = conv.json()
    assert conv.status_code == 200 and answer["sum"] == pytest.approx(answer["output"], rel=1e-5, abs=1e-6)
    pool = client.post("/probe", params={"token": TOKEN}, json={"kind": "neuron", "layer": 3, "d": 1, "row": 2, "col": 2})
    assert pool.json()["max"] == pool.json()["output"]
    relu = client.post("/probe", params={"token": TOKEN}, json={"kind": "neuron", "layer": 2, "d": 0, "row": 0, "col": 0})
    assert relu.status_code == 400 and "has no drill-down" in relu.json()["error"]
    saliency = client.post("/probe", params={"token": TOKEN}, json={"kind": "saliency", "class": 9}).json()
    assert saliency["map"]["shape"] == [28, 28] and saliency["name"] == lab.class_names[9]
    unknown = client.post("/probe", params={"token": TOKEN}, json={"kind": "occlusion", "class": 9})
    assert unknown.status_code == 400 and "use neuron, saliency or grad-cam" in unknown.json()["error"]
    outside = client.post("/probe", params={"token": TOKEN}, json={"kind": "neuron", "layer": 1, "d": 4, "row": 0, "col": 0})
    assert outside.status_code == 400 and "got (4, 0, 0)" in outside.json()["error"]


@pytest.mark.parametrize("chosen", [0, 9])
def test_the_saliency_and_grad_cam_overlays_are_volnet_explains_maps(client, lab, resume_after, chosen):
    client.post("/control", params={"token": TOKEN}, json={"action": "pause"})
    settled_step(lab)
    probe = lambda kind: client.post("/probe", params={"token": TOKEN}, json={"kind": kind, "class": chosen}).json()
    saliency, cam = probe("saliency"), probe("grad-cam")
    x = lab.data.batch(lab.subject["image"][None])[0]
    # what was sent, read back from its 8 bits, is the map volnet.explain computes, to a step of 1/255
    np.testing.assert_allclose(unpicture(saliency["map"]), saliency_map(lab.model, x, chosen),
                               atol=(saliency["map"]["max"] - saliency["map"]["min"]) / 255 + 1e-7)
    coarse = grad_cam(lab.model, x, chosen)
    np.testing.assert_allclose(unpicture(cam["coarse"]), coarse, atol=(cam["coarse"]["max"] - cam["coarse"]["min"]) / 255 + 1e-7)
    assert cam["map"]["shape"] == [28, 28] and cam["name"] == saliency["name"] == lab.class_names[chosen]
    last_conv = layer_names(lab.model, Conv2D)[-1][0]
    assert cam["layer"] == last_conv == "4" and cam["coarse"]["shape"] == list(coarse.shape) == [14, 14]
    assert cam["coarse"]["min"] >= 0  # ReLU of the weighted maps


def test_a_snapshot_is_a_model_file_that_loads_back(client, lab, tmp_path, resume_after):
    response = client.get("/snapshot", params={"token": TOKEN})
    assert response.status_code == 200 and "model.npz" in response.headers["content-disposition"]
    (tmp_path / "model.npz").write_bytes(response.content)
    model, metadata = load_model(tmp_path / "model.npz")
    assert metadata["dataset"] == "sample" and model.input_shape == (1, 28, 28)
    state = client.post("/model", params={"token": TOKEN}, content=response.content).json()
    assert state["paused"] and lab.model is not model and lab.model.input_shape == (1, 28, 28)
    damaged = client.post("/model", params={"token": TOKEN}, content=response.content[:-100])
    assert damaged.status_code == 400 and "model.npz" in damaged.json()["error"]


def test_the_event_stream_delivers_updates_and_stops_cleanly(client, lab):
    with client.websocket_connect(f"/events?token={TOKEN}") as socket:
        kinds = [socket.receive_json()["kind"] for _ in range(2)]
        assert kinds == ["state", "history"]
        steps = []
        while len(steps) < 3:
            message = socket.receive_json()
            if message["kind"] == "stats" and "loss" in message["point"]:
                steps.append(message["point"]["step"])
        assert steps == sorted(steps) and steps[-1] > steps[0]
        assert lab.broker.listening
    wait_for(lambda: not lab.broker.listening, what="the tab's removal from the broker")


def test_the_event_stream_refuses_a_missing_token(client):
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/events") as socket:
            socket.receive_text()
    assert refused.value.code == 1008


def test_two_tabs_receive_the_same_updates(client, lab):
    with client.websocket_connect(f"/events?token={TOKEN}") as first, \
            client.websocket_connect(f"/events?token={TOKEN}") as second:
        for socket in (first, second):
            assert socket.receive_json()["kind"] == "state"
            socket.receive_json()
        seen = [set(), set()]
        for index, socket in enumerate((first, second)):
            while len(seen[index]) < 3:
                message = socket.receive_json()
                if message["kind"] == "stats":
                    seen[index].add(json.dumps(message["point"], sort_keys=True))
        assert len(lab.broker.clients) == 2
    wait_for(lambda: not lab.broker.listening, what="both tabs' removal")

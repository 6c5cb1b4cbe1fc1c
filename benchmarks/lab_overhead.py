"""What an open `volnet lab` page costs the training, and how often it updates.

    pip install -e ".[lab,test]" && python benchmarks/lab_overhead.py [--rounds 2]

Times one epoch of the same run three ways, `--rounds` times, each way going first in turn:

    train     volnet.training.run.train, as `volnet train --epochs 1 --schedule constant` runs it
    lab       the lab's Trainer with no tab open (no looks inside the model)
    lab+page  the lab with the page open in headless Chromium (Playwright, /usr/bin/chromium)

all with the lab's defaults: the tiny preset on the embedded sample (9,000 training images),
Adam, lr 1e-3, batch 32, seed 0. The examples/s of each are the epoch's training examples over
the seconds of its training loop (the history record's "examples_per_second", which counts the
page's looks, since they run inside the loop). For lab+page it also counts the messages the tab
received per second and their bytes, and the share of the training thread's time that the
looks inside the model took (Lab.page_seconds over Lab.trained_seconds). Prints one Markdown
table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time

from volnet.lab.server import create_app, listening_socket, make_server, new_token, url_of
from volnet.lab.session import Lab, Settings
from volnet.training.run import TrainingConfig, train

SETTINGS = Settings()


def plain_train() -> float:
    config = TrainingConfig(architecture=SETTINGS.architecture, optimizer=SETTINGS.optimizer, lr=SETTINGS.lr,
                            batch_size=SETTINGS.batch_size, epochs=1, schedule="constant", seed=SETTINGS.seed)
    with tempfile.TemporaryDirectory() as folder:
        return train(config, folder, progress=False, log=lambda line: None).history[0]["examples_per_second"]


def lab_epoch(browser=None) -> tuple[float, float | None, float | None]:
    """(examples/s, messages/s, bytes/s, looks' share) of the lab's first epoch; the last three with a tab open."""
    lab = Lab(SETTINGS, paused=True)
    token, sock = new_token(), listening_socket("127.0.0.1", 0)
    server = make_server(create_app(lab, token))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    page = None
    try:
        if browser is not None:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url_of(sock, token))
            page.wait_for_function("window.lab.layers !== null")
        lab.start()
        counted = "[window.lab.updates, window.lab.bytes]"
        before = page.evaluate(counted) if page else None
        lab.control({"action": "resume"})
        started = time.perf_counter()
        while not lab.trainer.history:
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        if page is None:
            return lab.trainer.history[0]["examples_per_second"], None, None
        after = page.evaluate(counted)
        return (lab.trainer.history[0]["examples_per_second"], (after[0] - before[0]) / seconds,
                (after[1] - before[1]) / seconds, lab.page_seconds / lab.trained_seconds)
    finally:
        lab.close()
        server.should_exit = True
        if page is not None:
            page.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = {"train": [], "lab": [], "lab+page": []}
    rates = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        runs = {"train": plain_train, "lab": lambda: lab_epoch()[0], "lab+page": lambda: lab_epoch(browser)}
        for round_ in range(args.rounds):
            order = list(runs)[round_ % 3:] + list(runs)[:round_ % 3]  # each run goes first in turn
            for name in order:
                measured = runs[name]()
                if name == "lab+page":
                    measured, messages, size, share = measured
                    rates.append((messages, size, share))
                results[name].append(measured)
        browser.close()
    base = statistics.median(results["train"])
    print("| run | examples/s (each round) | median | vs train |\n|---|---|---|---|")
    for name, speeds in results.items():
        median = statistics.median(speeds)
        print(f"| {name} | {', '.join(f'{s:.0f}' for s in speeds)} | {median:.0f} | {median / base:.2f}× |")
    print("\nreceived by the open tab: " + ", ".join(f"{m:.1f} messages/s ({b / 1024:.0f} KiB/s)" for m, b, _ in rates))
    print("the looks' share of the training thread's time: " + ", ".join(f"{share:.1%}" for _, _, share in rates))


if __name__ == "__main__":
    main()

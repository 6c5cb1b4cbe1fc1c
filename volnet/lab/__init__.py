"""volnet lab: watch a ConvNet learn in the browser, and take it apart neuron by neuron.

    session.py   the Lab: data, model, volnet's Trainer in a thread, controls, drill-downs
    probe.py     looking inside a model at one input: layer cards, a conv neuron's dot
                 product, a pooling window's winner, saliency
    wire.py      compact arrays (8-bit, cut down) and bounded per-tab queues
    server.py    the starlette app: token, routes, the WebSocket stream
    notebook.py  serve(): a lab inside Python, shown in Jupyter as an IFrame
    static/      the page: index.html, lab.js, lab.css (no CDN, no build step)

Needs the `lab` extra (starlette, uvicorn, websockets): pip install "volnet[lab]".
Run it with `volnet lab` (volnet.cli.lab), or volnet.lab.serve() from Python.
"""


def serve(*args, **kwargs):
    """volnet.lab.notebook.serve (imported on use: the server's packages are an optional extra)."""
    from volnet.lab.notebook import serve as start

    return start(*args, **kwargs)

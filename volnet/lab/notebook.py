"""A lab inside Python: `serve()` starts one in this process and, in Jupyter, shows its page.

    >>> import volnet.lab
    >>> lab = volnet.lab.serve(architecture="conv3-8 relu pool fc10")   # the page appears below the cell
    >>> lab.url, lab.lab.trainer.step
    >>> lab.stop()

The server runs in a thread of its own and the training in the Lab's thread, so the notebook
stays free; the page is the same as `volnet lab`'s, in an IFrame.
"""

from __future__ import annotations

import html
import threading

from volnet.lab.server import create_app, listening_socket, make_server, new_token, url_of
from volnet.lab.session import Lab, Settings


class RunningLab:
    """A Lab and its server, started by serve(); `url` opens the page, stop() ends both."""

    def __init__(self, lab: Lab, host: str, port: int, height: int):
        self.lab, self.height, self.token = lab, height, new_token()
        sock = listening_socket(host, port)
        self.url = url_of(sock, self.token)
        self.server = make_server(create_app(lab, self.token))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       name="volnet-lab-server", daemon=True)
        self.thread.start()
        lab.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.lab.close()

    def _repr_html_(self) -> str:
        return (f'<iframe src="{html.escape(self.url)}" width="100%" height="{self.height}" '
                'style="border: 1px solid #ddd"></iframe>')

    def __repr__(self):
        return f"RunningLab({self.url})"


def serve(model_file=None, paused: bool = False, host: str = "127.0.0.1", port: int = 0, height: int = 900,
          **settings) -> RunningLab:
    """Start a lab (volnet.lab.session.Lab) and its page on host:port (0: a free port).

    Args:
        model_file: a model.npz to look at instead of training a fresh model (paused).
        paused: start paused.
        height: of the IFrame Jupyter shows, in pixels.
        settings: fields of volnet.lab.session.Settings: dataset, architecture, optimizer, lr,
            momentum, weight_decay, batch_size, seed, data_dir.

    Raises:
        TypeError: an unknown setting. ValueError, OSError: as Lab and listening_socket raise them.
    """
    return RunningLab(Lab(Settings(**settings), model_file=model_file, paused=paused), host, port, height)

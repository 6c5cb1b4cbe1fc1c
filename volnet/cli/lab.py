"""`volnet lab`: a local web page where a ConvNet trains live and can be taken apart (see volnet.lab)."""

from __future__ import annotations

import sys

from volnet.errors import ABOVE_0, AT_LEAST_0, AT_LEAST_1, FRACTION, check_settings
from volnet.run_folder import model_file
from volnet.models import get_preset
from volnet.training.run import OPTIMIZER_NAMES

FLAG_RULES = dict(lr=ABOVE_0, weight_decay=AT_LEAST_0, batch_size=AT_LEAST_1, momentum=FRACTION, seed=AT_LEAST_0,
                  port=("between 0 and 65535", lambda value: 0 <= value <= 65535))


def register(subparsers):
    parser = subparsers.add_parser(
        "lab", help="train a ConvNet live in the browser and take it apart neuron by neuron",
        description="Start a local web page (http://127.0.0.1:PORT/?token=...) where a ConvNet trains live: loss "
                    "and accuracy curves, every layer's activation maps, gradients and filters, test predictions "
                    "and a confusion matrix; pause, step, change the learning rate, optimizer, batch size and "
                    "weight decay while it runs; edit the architecture; click a neuron to see its dot product. "
                    "Needs the lab extra: pip install 'volnet[lab]'.")
    parser.add_argument("--dataset", default="sample",
                        help="sample (embedded, offline), fashion-mnist, mnist, cifar10, or an image folder; "
                             "default %(default)s")
    parser.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--preset", help="a named architecture: tiny, fashion, cifar10, resnet-small; default tiny")
    model.add_argument("--arch", metavar="STRING", help="an architecture string, e.g. '[conv3-16 relu]*2 pool fc10'")
    model.add_argument("--model", metavar="FILE", help="a saved model.npz (or a `volnet train` folder) to look at, "
                                                       "paused, instead of training a fresh one")
    parser.add_argument("--optimizer", default="adam", choices=OPTIMIZER_NAMES, help="default %(default)s")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate; default %(default)s")
    parser.add_argument("--momentum", type=float, help="momentum of the SGD optimizers (sgd, momentum, nesterov)")
    parser.add_argument("--weight-decay", type=float, default=0.0, metavar="LAMBDA", help="default %(default)s")
    parser.add_argument("--batch-size", type=int, default=32, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="default %(default)s")
    parser.add_argument("--paused", action="store_true", help="start paused (press resume on the page)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; default %(default)s (this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; default: a free one")
    parser.add_argument("--no-browser", action="store_true", help="print the address only, open no browser")
    parser.set_defaults(run=run)


def run(args) -> int:
    check_settings(args, **FLAG_RULES)
    if args.preset:
        get_preset(args.preset)  # an unknown name is refused as such, not read as an architecture string
    try:
        from volnet.lab.server import LOCAL_HOSTS, create_app, listening_socket, make_server, new_token, url_of
    except ImportError as error:
        raise ValueError(f"volnet lab needs starlette, uvicorn and websockets ({error}); install them with: "
                         "pip install 'volnet[lab]'") from None
    from volnet.lab.session import Lab, Settings

    settings = Settings(dataset=args.dataset, architecture=args.arch or args.preset or "tiny",
                        data_dir=args.data_dir, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay, batch_size=args.batch_size, seed=args.seed)
    if args.host not in LOCAL_HOSTS:
        print(f"volnet lab: warning: listening on {args.host}, so other machines that reach it can connect (with "
              "the token); leave out --host to listen on 127.0.0.1 only", file=sys.stderr)
    sock = listening_socket(args.host, args.port)
    token = new_token()
    lab = Lab(settings, model_file=model_file(args.model) if args.model else None, paused=args.paused)
    url = url_of(sock, token)
    print(f"volnet lab: {url}\n(the token in the address is the key to this lab; Ctrl+C stops it)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    lab.start()
    try:
        make_server(create_app(lab, token)).run(sockets=[sock])
    finally:
        lab.close()
        print("volnet lab: stopped", file=sys.stderr)
    return 0

"""`volnet gradcheck`: check every layer's backward pass against centred differences."""

from __future__ import annotations

from volnet.cli._shared import AT_LEAST_0, check_flags


def register(subparsers):
    parser = subparsers.add_parser(
        "gradcheck", help="check every layer type's gradients numerically (float64); exit 1 on any failure",
        description="Run the gradient check of CS231n on every layer type — convolution with stride and padding, "
                    "max/average/global pooling, linear, activations, batch norm in training mode, dropout, "
                    "residual blocks — and on both losses, in float64 at inputs away from the kinks of ReLU and "
                    "max. Prints the relative error of every gradient with PASS/FAIL against 1e-7 and exits "
                    "with status 1 if any fails.")
    parser.add_argument("--seed", type=int, default=1, help="seeds the layers' weights; default %(default)s")
    parser.set_defaults(run=run)


def run(args) -> int:
    from volnet.gradients.every_layer import check_all_gradients, format_results

    check_flags(args, seed=AT_LEAST_0)
    results = check_all_gradients(seed=args.seed)
    print(format_results(results))
    return 0 if all(result.passed for result in results) else 1

"""`volnet show`: pictures and animations of ConvNets, written into --out (default ./volnet-show).

    volnet show conv        a convolution step by step (GIF + HTML page with controls); --transposed:
                            a transposed convolution on the input stretched with zeros
    volnet show pool        pooling forward and backward (PNG + GIF + HTML)
    volnet show backprop    dw, dx and db of a convolution drawn as convolutions (PNG)
    volnet show conv-backward  a conv layer's backward, one dout number at a time (GIF + HTML)
    volnet show im2col      the matrix implementation: receptive field → column of X_col, filter →
                            row of W_row, product → output volume (PNG; --alexnet: the notes' layer)
    volnet show receptive-field  what one neuron of a model sees, layer by layer (PNG)
    volnet show kernels     classic image kernels on a photograph and a Fashion-MNIST image (PNG)
    volnet show model       a model's volumes, layer by layer (PNG)
    volnet show filters     a trained model's filters (PNG)
    volnet show activations a trained model's activation maps for one input (PNGs)

Each prints the paths of the files it wrote, one a line.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from volnet.cli._shared import STRING_INPUT_SHAPE, input_shape, model_from_spec, refuse_ignored, run_checked
from volnet.errors import AT_LEAST_0, AT_LEAST_1
from volnet.training.run import load_trained_model

DEFAULT_OUT = "volnet-show"
# the numeric flags of the pictures and what they must be; each picture takes some of them
FLAG_RULES = {"width": AT_LEAST_1, "height": AT_LEAST_1, "depth": AT_LEAST_1, "filters": AT_LEAST_1,
              "size": AT_LEAST_1, "stride": AT_LEAST_1, "pad": AT_LEAST_0, "seed": AT_LEAST_0, "index": AT_LEAST_0,
              "at": AT_LEAST_0, "filter": AT_LEAST_0, "output_pad": AT_LEAST_0}

# volnet.viz (and so matplotlib) is imported inside each run_*, when a picture is asked for,
# so that other commands and `volnet --help` do not wait for it


def register(subparsers):
    parser = subparsers.add_parser(
        "show", help="draw convolution, pooling, backprop, kernels, models, filters and activations",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="picture", metavar="PICTURE", required=True)

    def command(name, help_text, run):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"folder to write into (default: ./{DEFAULT_OUT})")
        sub.set_defaults(run=functools.partial(run_checked, FLAG_RULES, run))
        return sub

    conv = command("conv", "a convolution, one frame per output number (GIF and HTML)", run_conv)
    conv.add_argument("--width", type=int, help="W of the input (default 5; 9 with --image)")
    conv.add_argument("--height", type=int, help="H of the input (default 5; 9 with --image)")
    conv.add_argument("--depth", type=int, help="D of the input (default 3; an --image has depth 1)")
    conv.add_argument("--filters", type=int, default=2, help="K, the number of filters (default 2)")
    conv.add_argument("--size", type=int, default=3, help="F, filters are F×F (default 3)")
    conv.add_argument("--stride", type=int, default=2, help="S (default 2)")
    conv.add_argument("--pad", type=int, default=1, help="P, zeros on each side (default 1)")
    conv.add_argument("--seed", type=int, default=0, help="seeds the numbers (default 0)")
    conv.add_argument("--image", help="a picture to convolve instead of random numbers (grayscale, resized)")
    conv.add_argument("--transposed", action="store_true",
                      help="a transposed convolution instead, drawn as conv_arithmetic does: the input stretched "
                           "with zeros, the filters sliding over it (default input 3×3×1: 3×3 → 5×5)")
    conv.add_argument("--output-pad", type=int, help="with --transposed: op, extra rows and columns at the bottom "
                                                     "and right, below the stride (default 0)")

    pool = command("pool", "pooling forward (the winners) and backward (where the gradient goes)", run_pool)
    pool.add_argument("--width", type=int, default=5, help="W of the depth slice (default 5)")
    pool.add_argument("--height", type=int, default=5, help="H of the depth slice (default 5)")
    pool.add_argument("--size", type=int, default=3, help="F, windows are F×F (default 3: overlapping windows, "
                                                          "as in AlexNet; --size 2 --stride 2 for the notes' 2×2)")
    pool.add_argument("--stride", type=int, default=2, help="S (default 2)")
    pool.add_argument("--pad", type=int, default=0, help="P (default 0)")
    pool.add_argument("--mode", choices=("max", "avg"), default="max", help="max (default) or avg")
    pool.add_argument("--seed", type=int, default=0, help="seeds the numbers (default 0)")

    grads = command("backprop", "a convolution's gradients drawn as convolutions, checked against volnet", run_backprop)
    layer_flags(grads, width=4, height=4, size=3, stride=1, pad=0, seed=0)

    scatter = command("conv-backward", "a conv layer's backward step by step: each dout[k, i, j] scattered back "
                                       "onto dx and dw (GIF and HTML)", run_conv_backward)
    layer_flags(scatter, width=4, height=4, depth=2, filters=2, size=2, stride=1, pad=0, seed=0)

    matrix = command("im2col", "a conv layer as one matrix multiply, the notes' X_col and W_row (PNG)", run_im2col)
    matrix.add_argument("model", metavar="SPEC_OR_MODEL", nargs="?",
                        help="draw conv layer --layer of this preset, architecture string or saved model, by shape")
    matrix.add_argument("--layer", help="with SPEC_OR_MODEL: which conv layer, numbered as `volnet summary` "
                                        "numbers it (default: the first conv layer)")
    matrix.add_argument("--input-shape", metavar="D,H,W", help="with an architecture string: the shape of one example")
    matrix.add_argument("--alexnet", action="store_true",
                        help="the notes' example by shape: 227×227×3, 96 filters 11×11, stride 4")
    matrix.add_argument("--width", type=int, help="W of the input (default 4)")
    matrix.add_argument("--height", type=int, help="H of the input (default: the width)")
    matrix.add_argument("--depth", type=int, help="D of the input (default 2)")
    matrix.add_argument("--filters", type=int, help="K (default 2)")
    matrix.add_argument("--size", type=int, help="F (default 2)")
    matrix.add_argument("--stride", type=int, help="S (default 1)")
    matrix.add_argument("--pad", type=int, help="P (default 0)")
    matrix.add_argument("--seed", type=int, default=0, help="seeds the numbers (default 0)")
    matrix.add_argument("--at", type=int, default=None,
                        help="which output position k = i·OW + j to highlight (default: the middle one)")
    matrix.add_argument("--filter", type=int, default=0, help="which filter's row to highlight (default 0)")
    matrix.add_argument("--by-shape", action="store_true", help="draw the matrices by shape even when small")

    field = command("receptive-field", "the input region one neuron sees through the whole stack, layer by layer "
                                       "(PNG)", run_receptive_field)
    field.add_argument("model", metavar="SPEC_OR_MODEL", help="a preset, an architecture string or a saved model")
    field.add_argument("--layer", help="the layer, numbered as `volnet summary` numbers it (default: the last layer "
                                       "whose output is a volume)")
    field.add_argument("--at", dest="neuron", metavar="I,J", help="the neuron's row and column in that layer's output (default: "
                                                   "the centre)")
    field.add_argument("--input-shape", metavar="D,H,W", help="the shape of one example (default: the model's, and "
                                                              f"{','.join(map(str, STRING_INPUT_SHAPE))} for a string)")

    kernel = command("kernels", "blur, sharpen, outline, Sobel and emboss on real pictures", run_kernels)
    kernel.add_argument("--image", help="a picture to use instead of the sample photograph")
    kernel.add_argument("--index", type=int, default=0, help="which Fashion-MNIST sample test image (default 0)")

    model = command("model", "a model's volumes drawn as boxes, layer by layer", run_model)
    model.add_argument("model", metavar="SPEC_OR_MODEL",
                       help='a preset ("tiny"), an architecture string ("[conv3-32 relu]*2 pool fc10") '
                            'or a saved model file')
    model.add_argument("--input-shape", metavar="D,H,W",
                       help="the shape of one example, e.g. 3,32,32; default: the preset's or the saved model's, "
                            f"and {','.join(map(str, STRING_INPUT_SHAPE))} for an architecture string")

    weights = command("filters", "a trained model's filters as images", run_filters)
    weights.add_argument("model", metavar="MODEL", help="a saved model file")
    weights.add_argument("--layer", help="which conv layer, numbered as `volnet summary` numbers it (default: the "
                                         "first conv layer)")

    maps = command("activations", "a trained model's activation maps for one input", run_activations)
    maps.add_argument("model", metavar="MODEL", help="a saved model file")
    maps.add_argument("image", metavar="IMAGE", nargs="?", help="a picture (resized to the model's input)")
    maps.add_argument("--index", type=int, help="without IMAGE: which Fashion-MNIST sample test image (default 0)")


# what each numeric flag of a picture's layer is, in the notes' letters
FLAG_MEANINGS = {"width": "W of the input", "height": "H of the input", "depth": "D of the input",
                 "filters": "K, the number of filters", "size": "F, filters are F×F", "stride": "S", "pad": "P",
                 "seed": "seeds the numbers"}


def layer_flags(parser, **defaults):
    """Add --width, --height, ... (those named) as whole numbers with these defaults."""
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{FLAG_MEANINGS[name]} (default {default})")


def _report(paths) -> int:
    for path in paths:
        print(path)
    return 0


def run_conv(args) -> int:
    from volnet.viz import convolution

    if args.transposed:
        return run_conv_transposed(args)
    refuse_ignored(args, "without --transposed", "output_pad")
    if args.image and args.depth not in (None, 1):
        raise ValueError(f"a picture is one depth slice (grayscale); drop --depth {args.depth} or --image")
    side = 9 if args.image else 5
    width, height = (side if given is None else given for given in (args.width, args.height))
    depth = 1 if args.image else 3 if args.depth is None else args.depth
    convolution.check_hyperparameters(width, height, depth, args.filters, args.size, args.stride, args.pad)
    if args.image:
        x, weights, bias = convolution.image_demo_volume(args.image, width, height, args.filters, args.size, args.seed)
    else:
        x, weights, bias = convolution.random_demo_volume(width, height, depth, args.filters, args.size, args.seed)
    demo = convolution.convolution_demo(x, weights, bias, args.stride, args.pad)
    return _report(convolution.save_convolution_animation(demo, args.out, shaded=bool(args.image)))


def run_conv_transposed(args) -> int:
    from volnet.viz import conv_transpose

    refuse_ignored(args, "with --transposed: it draws random small numbers", "image")
    width, height = (3 if given is None else given for given in (args.width, args.height))
    depth, output_pad = 1 if args.depth is None else args.depth, args.output_pad or 0
    conv_transpose.check_hyperparameters(width, height, depth, args.filters, args.size, args.stride, args.pad,
                                         output_pad)
    x, weights, bias = conv_transpose.random_transposed_volume(width, height, depth, args.filters, args.size,
                                                               args.seed)
    demo = conv_transpose.transposed_demo(x, weights, bias, args.stride, args.pad, output_pad)
    return _report(conv_transpose.save_transposed_animation(demo, args.out))


def run_pool(args) -> int:
    from volnet.viz import pooling

    stride = args.stride
    pooling.check_hyperparameters(args.width, args.height, args.size, stride, args.pad, args.mode)
    x, dout = pooling.random_pooling_inputs(args.width, args.height, args.size, stride, args.pad, args.seed)
    return _report(pooling.save_pooling_pictures(pooling.pooling_demo(x, dout, args.size, stride, args.pad, args.mode),
                                                 args.out))


def run_backprop(args) -> int:
    from volnet.viz import backprop

    x, weight, bias, dout = backprop.random_backprop_inputs(args.width, args.height, args.size, args.stride, args.pad,
                                                            args.seed)
    gradients = backprop.convolution_gradients(x, weight, bias, dout, args.stride, args.pad)
    return _report(backprop.save_backprop_picture(gradients, args.out))


def run_conv_backward(args) -> int:
    from volnet.viz import conv_backward

    inputs = conv_backward.random_scatter_inputs(args.width, args.height, args.depth, args.filters, args.size,
                                                 args.stride, args.pad, args.seed)
    demo = conv_backward.scatter_backward(*inputs, stride=args.stride, pad=args.pad)
    return _report(conv_backward.save_scatter_animation(demo, args.out))


def run_im2col(args) -> int:
    from volnet.viz import im2col

    layer_flags = ("width", "height", "depth", "filters", "size", "stride", "pad")
    if args.model is None:
        refuse_ignored(args, "without SPEC_OR_MODEL: it picks a layer of a model", "layer", "input_shape")
    if args.alexnet or args.model is not None:
        refuse_ignored(args, "with --alexnet or a model: the layer's own hyperparameters are used", *layer_flags)
        if args.alexnet and args.model is not None:
            raise ValueError("give either SPEC_OR_MODEL or --alexnet, not both")
        shapes = im2col.Im2colShapes.of(**im2col.ALEXNET) if args.alexnet else _model_layer_shapes(args)
        figure = im2col.im2col_shapes_figure(shapes, *_highlighted(args, shapes))
        return _report(im2col.save_im2col_figure(figure, args.out, "im2col-alexnet" if args.alexnet else "im2col"))
    width = 4 if args.width is None else args.width
    height = width if args.height is None else args.height
    depth, filters, size, stride, pad = (default if given is None else given for given, default in (
        (args.depth, 2), (args.filters, 2), (args.size, 2), (args.stride, 1), (args.pad, 0)))
    shapes = im2col.Im2colShapes.of(width, height, depth, filters, size, stride, pad)
    if args.by_shape:
        return _report(im2col.save_im2col_figure(im2col.im2col_shapes_figure(shapes, *_highlighted(args, shapes)),
                                                 args.out))
    im2col.check_readable(shapes)
    if width != height:
        raise ValueError("the im2col picture with numbers draws square inputs; give --height equal to --width, "
                         "or add --by-shape")
    x, weights, bias = im2col.random_im2col_inputs(width, height, depth, filters, size, args.seed)
    demo = im2col.im2col_demo(x, weights, bias, stride, pad)
    return _report(im2col.save_im2col_figure(im2col.im2col_figure(demo, *_highlighted(args, shapes)), args.out))


def _highlighted(args, shapes) -> tuple[int, int]:
    """(--at, --filter), checked against the layer; --at defaults to the middle output position."""
    at = shapes.positions // 2 if args.at is None else args.at
    if at >= shapes.positions:
        raise ValueError(f"--at must be below OH·OW = {shapes.positions} (positions 0 … {shapes.positions - 1}), "
                         f"got {at}")
    if args.filter >= shapes.filters:
        raise ValueError(f"--filter must be below K = {shapes.filters}, got {args.filter}")
    return at, args.filter


def _model_layer_shapes(args):
    from volnet.models.summary import find_row, summary_rows
    from volnet.viz.im2col import Im2colShapes

    model, _ = model_from_spec(args.model, None if args.input_shape is None else input_shape(args.input_shape))
    rows = summary_rows(model)
    row = find_row(rows, args.layer, "conv layer") if args.layer else next(
        (row for row in rows if row.sharing is not None), None)
    if row is None:
        raise ValueError(f"{args.model} has no conv layer to draw as a matrix multiply")
    (fh, fw), (sh, sw), (ph, pw) = row.window
    if (fh, sh, ph) != (fw, sw, pw) or row.layer_object.dilations != (1, 1) or row.layer_object.groups != 1:
        raise ValueError(f"conv layer {row.number} is not square, or is dilated or grouped; the im2col picture draws "
                         f"square, undilated, ungrouped filters")
    depth, height, width = row.input_shape
    return Im2colShapes.of(width, height, depth, row.layer_object.filters, fh, sh, ph)


def run_receptive_field(args) -> int:
    from volnet.viz import receptive_field

    shape = None if args.input_shape is None else input_shape(args.input_shape)
    model, title = model_from_spec(args.model, shape)
    at = None
    if args.neuron is not None:
        try:
            at = tuple(int(part) for part in args.neuron.replace("×", ",").split(","))
        except ValueError:
            at = ()
        if len(at) != 2:
            raise ValueError(f"--at wants the neuron's row and column as I,J, e.g. --at 3,4; got {args.neuron!r}")
    regions = receptive_field.receptive_field_regions(model, args.layer, at, shape)
    return _report(receptive_field.save_receptive_field_figure(regions, args.out, title=title))


def run_kernels(args) -> int:
    from volnet.viz import images, kernels

    path = Path(args.image) if args.image else images.photograph_path()
    photo = images.load_image(path, depth=1, width=kernels.PHOTO_WIDTH)[0] / 255
    fashion, name = images.fashion_image(args.index)
    title = f"your picture ({path.name})" if args.image else "photograph (Grace Hopper, public domain)"
    return _report(kernels.save_kernel_figure([photo, fashion[0] / 255],
                                              [title, f"Fashion-MNIST test image {args.index}: {name}"], args.out))


def run_model(args) -> int:
    from volnet.viz import diagram

    shape = None if args.input_shape is None else input_shape(args.input_shape)
    model, title = model_from_spec(args.model, shape)
    return _report(diagram.save_model_figure(diagram.model_volumes(model, shape), args.out, title=title))


def run_filters(args) -> int:
    from volnet.viz import filters

    from volnet.models.summary import find_row, summary_rows

    model = load_trained_model(args.model)[0]
    rows = summary_rows(model)
    if not any(row.sharing is not None for row in rows):
        raise ValueError(f"{args.model} has no conv layer, so it has no filters to draw")
    row = (find_row(rows, args.layer, "conv layer") if args.layer is not None
           else next(row for row in rows if row.sharing is not None))
    return _report(filters.save_filters_figure(row.layer_object, row.number, args.out, f"filters-layer{row.number}"))


def run_activations(args) -> int:
    from volnet.viz import activations, images

    if args.image:
        refuse_ignored(args, "with an IMAGE: it picks a Fashion-MNIST sample image to use instead", "index")
    model, normalization, _, _ = load_trained_model(args.model)
    depth, height, width = model.input_shape
    if args.image:
        image = images.load_image(args.image, depth=depth, width=width, height=height)
    else:
        image, _ = images.fashion_image(args.index or 0)
        if image.shape != tuple(model.input_shape):
            raise ValueError(f"the Fashion-MNIST sample images are 28×28×1 but {args.model} takes "
                             f"{width}×{height}×{depth} inputs; give an IMAGE file to look at")
    maps = activations.activation_maps(model, activations.model_input(image, normalization))
    return _report(activations.save_activation_figures(maps, args.out, image))

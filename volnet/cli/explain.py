"""`volnet explain`: why a trained model says what it says, as pictures written into --out
(default ./volnet-explain) with the numbers printed.

    volnet explain saliency   MODEL [IMAGE | --index N] [--class C]   |∂score/∂x| and guided backprop
    volnet explain occlusion  MODEL [IMAGE | --index N] [--class C]   a grey patch slid over the image
    volnet explain gradcam    MODEL [IMAGE | --index N] [--class C] [--layer L]   Grad-CAM, Guided Grad-CAM
    volnet explain cam        MODEL [IMAGE | --index N] [--class C]   CAM, for nets ending in gap fc
    volnet explain classes    MODEL [--class C]                       the image each class likes most
    volnet explain fooling    MODEL [IMAGE | --index N] [--class C]   a small change to another class
    volnet explain neuron     MODEL --layer L --depth K               the test images a neuron likes
    volnet explain neighbours MODEL [IMAGE | --index N]               nearest images: codes vs pixels
    volnet explain embedding  MODEL [--method pca|tsne]               the test set's codes in 2-D

--index picks an image of the test split of the dataset the model was trained on (default
image 0); --class takes a class number or name (default: the predicted class, or for
occlusion the true one). Layers are numbered as in `volnet summary MODEL`.
"""

from __future__ import annotations

import argparse
import functools
import re
from pathlib import Path

from volnet.cli._shared import load_split, refuse_ignored, run_checked
from volnet.errors import ABOVE_0, AT_LEAST_0, AT_LEAST_1
from volnet.training.run import load_trained_model

DEFAULT_OUT = "volnet-explain"
FLAG_RULES = {"index": AT_LEAST_0, "size": AT_LEAST_1, "stride": AT_LEAST_1, "steps": AT_LEAST_1, "lr": ABOVE_0,
              "l2": AT_LEAST_0, "jitter": AT_LEAST_0, "blur_every": AT_LEAST_1, "blur_sigma": ABOVE_0,
              "depth": AT_LEAST_0, "top_k": AT_LEAST_1, "limit": AT_LEAST_1, "count": AT_LEAST_1,
              "thumbnails": AT_LEAST_0, "perplexity": ABOVE_0}

# volnet.explain (and so matplotlib) is imported inside each run_*, once the flags are checked


def register(subparsers):
    parser = subparsers.add_parser(
        "explain", help="saliency, occlusion, Grad-CAM, class images, fooling images, neurons, neighbours, embeddings",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    methods = parser.add_subparsers(dest="picture", metavar="METHOD", required=True)

    def method(name, help_text, run, image=True, data=True):
        sub = methods.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("model", metavar="MODEL", help="a model file written by `volnet train`, or its output folder")
        if image:
            sub.add_argument("image", metavar="IMAGE", nargs="?", help="an image file (converted to the model's "
                                                                       "channels and resized to its input)")
            sub.add_argument("--index", type=int, help="without IMAGE: which test image (default 0)")
        if data:
            sub.add_argument("--dataset", help="the dataset to take images from; default: the model's own")
            sub.add_argument("--split", choices=("train", "test"), help="default: test")
            sub.add_argument("--data-dir", metavar="DIR", help="look for the dataset files here first")
        sub.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"folder to write into (default: "
                                                                           f"./{DEFAULT_OUT})")
        sub.set_defaults(run=functools.partial(run_checked, FLAG_RULES,
                                               functools.partial(without_index_beside_image, run)))
        return sub

    def chosen_class(sub, default):
        sub.add_argument("--class", dest="chosen", metavar="C", help=f"a class number or name (default: {default})")

    saliency = method("saliency", "saliency map |∂score_c/∂x| (max over depth) and guided backprop", run_saliency)
    chosen_class(saliency, "the predicted class")

    occlusion = method("occlusion", "occlusion sensitivity: the class's probability with a grey patch at each place",
                       run_occlusion)
    chosen_class(occlusion, "the true class with --index, else the predicted one")
    occlusion.add_argument("--size", type=int, help="the patch's side in pixels (default: W/5 rounded, 6 for 28×28)")
    occlusion.add_argument("--stride", type=int, default=2, help="pixels between patch positions (default 2)")

    gradcam = method("gradcam", "Grad-CAM at a conv layer, and Guided Grad-CAM", run_gradcam)
    chosen_class(gradcam, "the predicted class")
    gradcam.add_argument("--layer", help="the conv layer's number in `volnet summary` (default: the last conv)")

    chosen_class(method("cam", "CAM, for nets ending in global average pooling and one fc layer", run_cam),
                 "the predicted class")

    from volnet.explain.class_model import DEFAULTS

    classes = method("classes", "class model visualisation: gradient ascent on each class score from a blank image",
                     run_classes, image=False, data=False)
    chosen_class(classes, "every class")
    classes.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="gradient steps (default %(default)s)")
    classes.add_argument("--lr", type=float, default=DEFAULTS["lr"],
                         help="the L2 length of each normalised step (default %(default)s)")
    classes.add_argument("--l2", type=float, default=DEFAULTS["l2"], help="λ of the L2 penalty (default %(default)s)")
    classes.add_argument("--jitter", type=int, default=DEFAULTS["jitter"],
                         help="the largest random shift per step, in pixels (default %(default)s)")
    classes.add_argument("--blur-every", type=int, default=DEFAULTS["blur_every"],
                         help="blur every this many steps (default %(default)s)")
    classes.add_argument("--blur-sigma", type=float, default=DEFAULTS["blur_sigma"],
                         help="σ of the Gaussian blur in pixels (default %(default)s)")
    classes.add_argument("--seed", type=int, default=0, help="seeds the jitter (default 0)")

    fooling = method("fooling", "a fooling image: the change that makes the model say a chosen wrong class",
                     run_fooling)
    chosen_class(fooling, "the runner-up, the class the model finds second most likely")
    fooling.add_argument("--lr", type=float, default=0.1,
                         help="the L2 length of each normalised step, in normalised units (default %(default)s)")
    fooling.add_argument("--steps", type=int, default=500, help="the most steps to take (default %(default)s)")

    neuron = method("neuron", "the test images, and their receptive fields, that excite one neuron most", run_neuron,
                    image=False)
    neuron.add_argument("--layer", required=True, help="the layer's number in `volnet summary`, e.g. 4")
    neuron.add_argument("--depth", type=int, default=0, help="the depth slice (filter), from 0 (default 0)")
    neuron.add_argument("--top-k", type=int, default=9, help="how many images (default %(default)s)")
    neuron.add_argument("--limit", type=int, help="search only the first N images of the split (default: all)")

    neighbours = method("neighbours", "nearest neighbours of an image in the penultimate codes and in pixels",
                        run_neighbours)
    neighbours.add_argument("--count", type=int, default=8, help="neighbours shown per row (default %(default)s)")
    neighbours.add_argument("--limit", type=int, help="search only the first N images of the split (default: all)")

    embedding = method("embedding", "the penultimate codes of the test images in 2-D, coloured by class",
                       run_embedding, image=False)
    embedding.add_argument("--method", choices=("pca", "tsne"), default="pca",
                           help="pca (NumPy, default) or tsne (needs scikit-learn: pip install \"volnet[explain]\")")
    embedding.add_argument("--limit", type=int, help="use the first N images of the split (default: all; "
                                                     "t-SNE of 2,000 takes about a minute)")
    embedding.add_argument("--thumbnails", type=int, default=40, help="images drawn on the map (default 40)")
    embedding.add_argument("--perplexity", type=float, default=30.0, help="t-SNE's perplexity (default 30)")
    embedding.add_argument("--seed", type=int, default=0, help="seeds t-SNE (default 0)")


def without_index_beside_image(run, args) -> int:
    """Run a method unless --index is given beside an IMAGE, which it would ignore."""
    if getattr(args, "image", None):
        refuse_ignored(args, "with an IMAGE: it picks a dataset image to use instead", "index")
    return run(args)


class Subject:
    """The model and the one image a method explains, loaded from the command line.

    Attributes:
        model, normalization, class_names: as volnet.training.run.load_trained_model gives them.
        image: (D, H, W) uint8 as the model sees it (resized), x: the same normalised.
        label: its true class (None for an image file). name: how the output names it.
    """

    def __init__(self, args, needs_image=True, searches_data=False):
        self.args = args
        if needs_image and args.image and not searches_data:
            refuse_ignored(args, "with an IMAGE: they choose the dataset that --index picks from",
                           "dataset", "split", "data_dir")
        self.model, self.normalization, names, self.metadata = load_trained_model(args.model)
        self.class_names = names
        self.split = None
        if not needs_image:
            return
        from volnet.viz import model_input
        from volnet.viz.images import load_image

        depth, height, width = self.model.input_shape
        if args.image:
            self.image, self.label, self.name = load_image(args.image, depth, width, height), None, args.image
        else:
            split = self.data()
            index = args.index or 0
            if index >= len(split):
                raise ValueError(f"--index {index} is outside {split.name}, which has images 0 to {len(split) - 1}")
            self.image, self.label = split.images[index], int(split.labels[index])
            self.name = f"{split.name}[{index}]"
        self.x = model_input(self.image, self.normalization)

    def data(self, limit=None):
        """The dataset split (the model's own by default), checked against the model's input shape."""
        if self.split is None:
            dataset = self.args.dataset or self.metadata.get("dataset") or "sample"
            split = load_split(self.args, dataset, self.args.split or "test", self.class_names)
            if split.image_shape != tuple(self.model.input_shape):
                from volnet.layers import format_shape

                raise ValueError(f"{split.name} has images of {format_shape(split.image_shape)} but {self.args.model} "
                                 f"takes {format_shape(self.model.input_shape)}; give --dataset with images of that "
                                 f"shape" + (", or an IMAGE file" if hasattr(self.args, "image") else ""))
            self.split = split
        return self.split if limit is None else self.split.subset(slice(0, limit))

    def inputs(self, images):
        """A uint8 batch (N, D, H, W) normalised as the model's training data."""
        from volnet.data.batching import scaled_batch

        return scaled_batch(images, self.normalization, self.model.dtype)

    def class_name(self, number: int) -> str:
        from volnet.explain.pictures import class_label

        return class_label(self.class_names, number)

    def target(self, chosen, default):
        """The class --class names, or `default` (a number) when it was not given."""
        from volnet.explain.probe import class_index

        return default if chosen is None else class_index(self.model, chosen, self.class_names)

    @functools.cached_property
    def _probabilities(self):
        from volnet.explain.probe import probabilities

        return probabilities(self.model, self.x[None])[0]  # the methods never change the weights: once is enough

    def predicted(self):
        """(predicted class, its probability, every probability) for the image."""
        found = self._probabilities
        return int(found.argmax()), float(found.max()), found

    def headline(self) -> str:
        """ "sample/test[0]: predicted Ankle boot (96%), true Ankle boot" """
        number, probability, _ = self.predicted()
        truth = "" if self.label is None else f", true {self.class_name(self.label)}"
        return f"{self.name}: predicted {self.class_name(number)} ({probability:.0%}){truth}"

    def file_name(self, method: str, target: int | None = None) -> str:
        """e.g. "saliency-sample-test-0-Ankle-boot", or "saliency-shoe-Sneaker" for the IMAGE shoe.png."""
        image = Path(self.name).stem if self.args.image else self.name
        return _file_name(method, image, *([] if target is None else [self.class_name(target)]))

    def save(self, figure, name: str) -> int:
        from volnet.viz import style

        print(style.save_figure(figure, f"{self.args.out}/{name}.png"))
        return 0


def progress_bar(total: int, description: str):
    """A progress bar on stderr (steps/s, ETA) for the gradient-ascent methods, shown when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", leave=False, disable=None, dynamic_ncols=True)


def _file_name(*words) -> str:
    """A file name from words: ("saliency", "sample test[0]", "T-shirt/top") -> "saliency-sample-test-0-T-shirt-top"."""
    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(str(word) for word in words)).strip("-")


def run_saliency(args) -> int:
    from volnet.explain import saliency

    subject = Subject(args)
    target = subject.target(args.chosen, subject.predicted()[0])
    found = saliency.saliency_map(subject.model, subject.x, target)
    guided = saliency.guided_backprop(subject.model, subject.x, target)
    print(subject.headline())
    print(f"saliency of {subject.class_name(target)}: M = max over depth of |∂score/∂x|; the top 10 % of pixels "
          f"hold {saliency.share_in_top_pixels(found):.0%} of it")
    figure = saliency.saliency_figure(subject.image, found, f"{subject.headline()} — why "
                                                            f"{subject.class_name(target)}?", guided)
    return subject.save(figure, subject.file_name("saliency", target))


def run_occlusion(args) -> int:
    from volnet.explain import occlusion

    subject = Subject(args)
    default = subject.label if subject.label is not None else subject.predicted()[0]
    target = subject.target(args.chosen, default)
    size = args.size or max(1, round(subject.model.input_shape[2] / 5))
    found = occlusion.occlusion_map(subject.model, subject.x, target, size, args.stride)
    low = found.probabilities.min()
    a, b = [int(v[0]) for v in (found.probabilities == low).nonzero()]
    print(subject.headline())
    print(f"occlusion by a {size}×{size} patch, stride {args.stride}: P({subject.class_name(target)}) = "
          f"{found.unoccluded:.1%} unoccluded, lowest {low:.1%} with the patch at row {found.rows[a]}, "
          f"column {found.columns[b]}")
    figure = occlusion.occlusion_figure(subject.image, found, subject.headline(), subject.class_name(target))
    return subject.save(figure, subject.file_name("occlusion", target))


def run_gradcam(args) -> int:
    from volnet.explain import cam, saliency
    from volnet.explain.probe import conv_layer, describe_layer

    subject = Subject(args)
    layer = conv_layer(subject.model, args.layer)
    target = subject.target(args.chosen, subject.predicted()[0])
    found = cam.grad_cam(subject.model, subject.x, target, layer)
    guided = saliency.guided_backprop(subject.model, subject.x, target)
    print(subject.headline())
    print(f"Grad-CAM of {subject.class_name(target)} at {describe_layer(layer)}: ReLU(Σ_k α_k A_k), α_k = the mean "
          f"of ∂score/∂A_k; a {found.shape[1]}×{found.shape[0]} map, largest {found.max():.3g}")
    figure = cam.cam_figure(subject.image, found, f"{subject.headline()} — why {subject.class_name(target)}?",
                            f"Grad-CAM, {describe_layer(layer)}", guided)
    return subject.save(figure, subject.file_name(f"gradcam-layer{layer.index}", target))


def run_cam(args) -> int:
    import numpy as np

    from volnet.explain import cam
    from volnet.explain.probe import describe_layer

    subject = Subject(args)
    feeding = cam.cam_layers(subject.model)[0]
    target = subject.target(args.chosen, subject.predicted()[0])
    found = cam.class_activation_map(subject.model, subject.x, target)
    print(subject.headline())
    print(f"CAM of {subject.class_name(target)}: Σ_k W[c, k] A_k over the {len(found)}×{found.shape[1]} maps of "
          f"{describe_layer(feeding)}, which global average pooling averages; from {found.min():.3g} to "
          f"{found.max():.3g} (negative parts drawn as 0)")
    figure = cam.cam_figure(subject.image, np.maximum(found, 0), f"{subject.headline()} — why "
                                                                 f"{subject.class_name(target)}?",
                            f"CAM, {describe_layer(feeding)}")
    return subject.save(figure, subject.file_name("cam", target))


def run_classes(args) -> int:
    from volnet.explain import class_model, pictures
    from volnet.explain.probe import class_count, probabilities

    subject = Subject(args, needs_image=False)
    model = subject.model
    targets = range(class_count(model)) if args.chosen is None else [subject.target(args.chosen, None)]
    bounds = pictures.pixel_range(model.input_shape[0], subject.normalization)
    images, captions = [], []
    with progress_bar(len(targets) * args.steps, "class images") as bar:
        for target in targets:
            made = class_model.class_visualisation(model, target, args.steps, args.lr, args.l2, args.jitter,
                                                   args.blur_every, args.blur_sigma, bounds, args.seed,
                                                   on_step=bar.update)
            probability = probabilities(model, made[None])[0, target]
            bar.write(f"{subject.class_name(target)}: P = {probability:.1%} after {args.steps} steps")
            images.append(pictures.pixels(made, subject.normalization))
            captions.append(f"{subject.class_name(target)}\nP = {probability:.0%}")
    title = (f"The image each class likes most: gradient ascent from a blank image\n{args.steps} steps of lr "
             f"{args.lr:g} on score − {args.l2:g}·‖I‖², jitter ±{args.jitter} px, "
             f"blur σ {args.blur_sigma:g} every {args.blur_every} steps")
    figure = class_model.class_visualisation_figure(images, captions, title)
    name = "classes" if args.chosen is None else _file_name("class", subject.class_name(targets[0]))
    return subject.save(figure, name)


def run_fooling(args) -> int:
    import numpy as np

    from volnet.explain import fooling, pictures

    subject = Subject(args)
    number, _, found = subject.predicted()
    target = subject.target(args.chosen, int(np.argsort(found)[-2]))
    bounds = pictures.pixel_range(subject.model.input_shape[0], subject.normalization)
    with progress_bar(args.steps, "fooling steps (at most)") as bar:
        fooled = fooling.fooling_image(subject.model, subject.x, target, args.lr, args.steps, bounds,
                                       subject.class_names, on_step=bar.update)
    change = fooling.pixel_change(fooled, subject.normalization)
    l2, largest = fooling.change_in_pixels(fooled, subject.normalization)
    print(subject.headline())
    outcome = "now predicts" if fooled.fooled else f"still does not predict (after all {args.steps} steps)"
    print(f"after {fooled.steps} steps of lr {args.lr:g} the model {outcome} {subject.class_name(target)} "
          f"({fooled.after[target]:.1%}); the change in pixel levels (0–255): L2 {l2:.1f}, L∞ {largest:.1f}")
    captions = [f"input: {subject.class_name(number)} {fooled.before[number]:.0%}",
                f"changed: {subject.class_name(target)} {fooled.after[target]:.0%}"]
    figure = fooling.fooling_figure(subject.image, pictures.pixels(fooled.image, subject.normalization),
                                    change, captions,
                                    f"{subject.name}: fooled into {subject.class_name(target)} — change L2 "
                                    f"{l2:.0f}, L∞ {largest:.0f} (pixel levels)")
    return subject.save(figure, subject.file_name("fooling", target))


def run_neuron(args) -> int:
    from volnet.explain import neurons
    from volnet.explain.probe import describe_layer
    from volnet.models.numbering import find_layer

    subject = Subject(args, needs_image=False)
    layer = find_layer(subject.model, args.layer)
    split = subject.data(args.limit)
    hits = neurons.top_images(subject.model, subject.inputs(split.images), layer, args.depth, args.top_k)
    field = neurons.receptive_field(subject.model, layer)
    seen = "the whole image" if field.whole else f"{field.size[1]}×{field.size[0]} pixels"
    print(f"{describe_layer(layer)}, depth slice {args.depth}: each output number sees {seen}")
    for hit in hits:
        print(f"{split.name}[{hit.index}] ({subject.class_name(int(split.labels[hit.index]))}): {hit.activation:.3g} "
              f"at row {hit.row}, column {hit.column}; field rows {hit.box[0]}–{hit.box[2] - 1}, "
              f"columns {hit.box[1]}–{hit.box[3] - 1}")
    captions = [f"{subject.class_name(int(split.labels[hit.index]))}\n{hit.activation:.2f}" for hit in hits]
    title = (f"{describe_layer(layer)}, depth slice {args.depth}:\nthe {len(hits)} of {len(split)} images that "
             f"excite it most (each of its numbers sees {seen})")
    figure = neurons.neuron_figure(split.images[[hit.index for hit in hits]], hits, captions, title)
    return subject.save(figure, f"neuron-layer{layer.index}-depth{args.depth}")


def run_neighbours(args) -> int:
    from volnet.explain import neighbours

    subject = Subject(args, searches_data=True)
    split = subject.data(args.limit)
    x = subject.inputs(split.images)
    # the query itself is in the pool unless it is an image file
    exclude = None if args.image or (args.index or 0) >= len(split) else args.index or 0
    spaces = [("pixels", x.reshape(len(x), -1), subject.x),
              ("penultimate codes", neighbours.penultimate_codes(subject.model, x),
               neighbours.penultimate_codes(subject.model, subject.x[None])[0])]
    query_class = subject.label if subject.label is not None else subject.predicted()[0]
    rows = []
    print(subject.headline())
    for space, pool, query in spaces:
        found = neighbours.nearest_neighbours(query, pool, args.count, exclude)
        labels = [int(split.labels[index]) for index in found.indices]
        same = [label == query_class for label in labels]
        print(f"in {space}: {sum(same)} of {len(same)} nearest images are {subject.class_name(query_class)}")
        captions = [f"{subject.class_name(label)}\n{distance:.3g}" for label, distance in zip(labels, found.distances)]
        rows.append((space, split.images[found.indices], captions, same))
    title = f"{subject.headline()}: its {args.count} nearest images (class and distance above each)"
    figure = neighbours.neighbours_figure(subject.image, subject.name, rows, title)
    return subject.save(figure, subject.file_name("neighbours"))


def run_embedding(args) -> int:
    from volnet.explain import embedding, neighbours

    subject = Subject(args, needs_image=False)
    split = subject.data(args.limit)
    codes = neighbours.penultimate_codes(subject.model, subject.inputs(split.images))
    if args.method == "pca":
        points, shares = embedding.pca(codes)
        axis_names = [f"principal direction {k + 1} ({share:.0%} of the variance)" for k, share in enumerate(shares)]
        print(f"PCA of {len(codes)} codes of {codes.shape[1]} numbers: the two directions explain "
              f"{shares[0]:.1%} and {shares[1]:.1%} of the variance")
        name = "PCA"
    else:
        points = embedding.tsne(codes, args.seed, args.perplexity)
        axis_names = ["t-SNE 1", "t-SNE 2"]
        print(f"t-SNE of {len(codes)} codes of {codes.shape[1]} numbers, perplexity {args.perplexity:g}")
        name = "t-SNE"
    figure = embedding.embedding_figure(points, split.labels, subject.class_names, split.images,
                                        f"{name} of the penultimate codes of {len(codes)} images of {split.name}",
                                        axis_names, args.thumbnails)
    return subject.save(figure, f"embedding-{args.method}")

"""Why did it say "sneaker"? What a trained ConvNet looks at and what it has learned, from
its own gradients (the CS231n notes' "Visualizing what ConvNets learn", assignment 3).

    saliency     |∂ score_c / ∂ x|, max over depth; guided backpropagation
    occlusion    a grey patch slid over the image: the map of the class's probability
    cam          Grad-CAM at any conv layer; CAM for nets ending in GAP + FC; Guided Grad-CAM
    class_model  the image that maximises a class score (L2, jitter, blur: the assignment's recipe)
    fooling      the small change that makes the model say a chosen wrong class
    neurons      the images (and receptive fields) that excite one depth slice of a layer most
    neighbours   nearest neighbours in the penultimate codes versus in pixels
    embedding    the codes of many images in 2-D: PCA (NumPy) or t-SNE (scikit-learn, optional)
    probe        checks of examples, classes and layers; the class score's gradient (Layer.record())
    pictures     inputs back to pixels, maps stretched and laid over images

The array functions take the model and examples normalised as in training (volnet.viz.model_input)
and return NumPy arrays; each *_figure function returns a matplotlib Figure, which
volnet.viz.style.save_figure writes as PNG. Layers are named by their `volnet summary`
numbers ("4", "7.1"). `volnet explain METHOD MODEL` does each from the command line.
"""

from volnet.explain.cam import class_activation_map, grad_cam
from volnet.explain.class_model import class_visualisation
from volnet.explain.embedding import pca, tsne
from volnet.explain.fooling import FoolingImage, fooling_image
from volnet.explain.neighbours import nearest_neighbours, penultimate_codes
from volnet.explain.neurons import top_images
from volnet.explain.occlusion import OcclusionMap, occlusion_map
from volnet.explain.probe import score_gradient
from volnet.explain.saliency import guided_backprop, input_gradient, saliency_map
from volnet.models.numbering import find_layer
from volnet.models.receptive_field import receptive_field

__all__ = ["class_activation_map", "grad_cam", "class_visualisation", "pca", "tsne", "FoolingImage", "fooling_image",
           "nearest_neighbours", "penultimate_codes", "receptive_field", "top_images",
           "OcclusionMap", "occlusion_map", "find_layer", "score_gradient", "guided_backprop", "input_gradient",
           "saliency_map"]

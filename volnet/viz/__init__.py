"""Pictures and animations of ConvNets, drawn from volnet's own numbers.

    convolution  the notes' demo: a receptive field sliding over a padded volume, one frame
                 per output number (ConvolutionDemo.steps), as GIF and HTML
    pooling      which number wins each window, and where the gradient goes back
    backprop     dw, dx and db of a convolution drawn as convolutions, checked against volnet
    conv_backward  the same backward scattered, one dout number a frame (GIF and HTML)
    im2col       the matrix implementation: field → column of X_col, filter → row of W_row
    receptive_field  the region one neuron sees, in every volume down to the input
    kernels      classic image kernels applied with volnet's conv
    diagram      a model's volumes as boxes, W×H×D
    filters      a trained conv layer's filters as images
    activations  a trained model's activation maps for one input
    curves       training curves (plot_training_curves)
    evaluation   confusion matrix and misclassified images
    animation    GIF and self-contained HTML player; style: colours and number grids

Every drawing function returns a matplotlib Figure (without pyplot), which notebooks show
as it is; the save_* functions write files and return their paths. The data behind each
picture (steps, windows, gradients, grids) is returned by its own function, so it can be
checked against volnet.ops — and is, in tests/viz.
"""

from volnet.viz.activations import activation_maps, activations_figure, model_input, save_activation_figures
from volnet.viz.animation import save_animation
from volnet.viz.backprop import BackpropPicture, convolution_gradients, random_backprop_inputs, save_backprop_picture
from volnet.viz.conv_backward import ScatterPicture, random_scatter_inputs, save_scatter_animation, scatter_backward
from volnet.viz.convolution import (ConvolutionPicture, convolution_demo, image_demo_volume, random_demo_volume,
                                    save_convolution_animation)
from volnet.viz.curves import plot_training_curves, training_curves_figure
from volnet.viz.diagram import model_figure, model_volumes, save_model_figure
from volnet.viz.evaluation import (confusion_matrix_figure, misclassified_figure, plot_confusion_matrix,
                                   plot_misclassified)
from volnet.viz.filters import (conv_layers, filter_grid, filters_before_after_figure, filters_figure,
                                save_filters_figure)
from volnet.viz.im2col import (Im2colPicture, Im2colShapes, im2col_demo, im2col_figure, im2col_shapes_figure,
                               random_im2col_inputs, save_im2col_figure)
from volnet.viz.kernels import KERNELS, apply_kernel, kernel_figure, save_kernel_figure
from volnet.viz.pooling import PoolingPicture, pooling_demo, random_pooling_inputs, save_pooling_pictures
from volnet.viz.receptive_field import receptive_field_figure, receptive_field_regions, save_receptive_field_figure

__all__ = [
    "activation_maps", "activations_figure", "apply_kernel", "BackpropPicture", "confusion_matrix_figure",
    "conv_layers", "convolution_demo", "convolution_gradients", "ConvolutionPicture", "filter_grid",
    "filters_before_after_figure", "filters_figure", "im2col_demo", "im2col_figure", "Im2colPicture", "Im2colShapes",
    "im2col_shapes_figure", "image_demo_volume", "kernel_figure", "KERNELS", "misclassified_figure", "model_figure",
    "model_input", "model_volumes", "plot_confusion_matrix", "plot_misclassified", "plot_training_curves",
    "pooling_demo", "PoolingPicture", "random_backprop_inputs", "random_demo_volume", "random_im2col_inputs",
    "random_pooling_inputs", "random_scatter_inputs", "receptive_field_figure", "receptive_field_regions",
    "save_activation_figures", "save_animation", "save_backprop_picture", "save_convolution_animation",
    "save_filters_figure", "save_im2col_figure", "save_kernel_figure", "save_model_figure", "save_pooling_pictures",
    "save_receptive_field_figure", "save_scatter_animation", "scatter_backward", "ScatterPicture",
    "training_curves_figure",
]

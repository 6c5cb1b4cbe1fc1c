"""Stateless maths: each forward returns (out, cache); each backward takes (dout, cache).

Every fast op has a readable reference beside it, with the same signature: convolution by
algorithm name (conv.py: "reference" loops in conv_reference.py, "im2col" in conv_im2col.py,
"winograd" in conv_winograd.py), pooling, batch norm, linear and the activations (each
module's *_reference functions). The chunks, worker threads and BLAS's thread count are
parallel.py's; memory layouts (padding, channel-last copies, window views) are layout.py's.
"""

from volnet.ops.activation import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                                   sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from volnet.ops.batchnorm import batchnorm_backward, batchnorm_forward
from volnet.ops.conv import (conv2d_backward, conv2d_backward_reference, conv2d_filter_gradient, conv2d_forward,
                             conv2d_forward_reference, conv2d_input_gradient, use_algorithm)
from volnet.ops.conv_im2col import col2im, im2col
from volnet.ops.dropout import dropout_backward, dropout_forward
from volnet.ops.geometry import output_size, same_padding, window_output_shape
from volnet.ops.linear import linear_backward, linear_forward
from volnet.ops.loss import log_softmax, softmax_cross_entropy, svm_loss
from volnet.ops.pool import (global_avgpool_backward, global_avgpool_forward, pool2d_backward,
                             pool2d_backward_reference, pool2d_forward, pool2d_forward_reference)

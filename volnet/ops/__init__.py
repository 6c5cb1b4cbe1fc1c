"""Stateless maths: each forward returns (out, cache); each backward takes (dout, cache).

The reference (loop) and fast (matrix / strided) versions of convolution and pooling have
the same signatures and live side by side in conv.py and pool.py.
"""

from volnet.ops.activation import (leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
                                   sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward)
from volnet.ops.batchnorm import batchnorm_backward, batchnorm_forward
from volnet.ops.conv import conv2d_backward, conv2d_backward_reference, conv2d_forward, conv2d_forward_reference
from volnet.ops.dropout import dropout_backward, dropout_forward
from volnet.ops.geometry import output_size, same_padding, window_output_shape
from volnet.ops.im2col import col2im, im2col
from volnet.ops.linear import linear_backward, linear_forward
from volnet.ops.loss import log_softmax, softmax_cross_entropy, svm_loss
from volnet.ops.pool import (global_avgpool_backward, global_avgpool_forward, pool2d_backward,
                             pool2d_backward_reference, pool2d_forward, pool2d_forward_reference)

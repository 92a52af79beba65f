"""SparseComp: compresses a float Keras model to a target number of stored bytes.

Graph surgery comes first, so that later steps act on the weights that end up
stored: rebuild (a generic layer-by-layer rebuild of a model), fold
(BatchNormalization folded into the conv or dense layer before it) and
separation (low-rank split of big Dense and Conv2D layers). Pruning (iterative
hard thresholding while retraining) and the search for a plan that meets the
byte target build on them.
"""

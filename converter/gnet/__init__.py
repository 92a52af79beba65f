"""gNet: one early-exit head shared by every exit point of a frozen network.

Each exit point's feature map is pooled (average, maximum or both) to a
small grid; the pooled features of every exit reached so far are
concatenated, with zeros for the exits not reached, and one linear head
answers (one layer, or two through a few hidden units). Because the head is linear,
its logits are a sum of per-exit contributions that the runtime accumulates
as the inference proceeds, so an answer costs O(classes) at any moment.

Modules: exits.py (which layers are exit points), head.py (the Keras head
and its training), thresholds.py (per-exit confidence thresholds),
graph.py (the int8 or int4 head inside model.tflite), docs/gnet.md.
"""

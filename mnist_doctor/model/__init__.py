"""The model stage: a config's layers as a keras.Sequential, its loss and its optimiser.

Imports Keras, so only the training side imports this package, and only once a run starts.
"""

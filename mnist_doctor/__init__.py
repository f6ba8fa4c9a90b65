"""mnist-doctor: reproduce, measure and diagnose the classic ways an MNIST network fails to learn.

Data flow, one module per stage: config -> data -> model -> train (+ telemetry) -> runs (files)
-> diagnose -> table/plots/report -> cli. Only model, train and the backend modules import
TensorFlow, and only when a run starts.
"""

__version__ = "0.1.0"

"""mnist-doctor: reproduce, measure and diagnose the classic ways an MNIST network fails to learn.

Data flow, one module per stage: config -> data -> model -> train (+ telemetry) -> runs (files)
-> diagnose -> table/plots/report -> cli. Only model, train and the backend modules import
TensorFlow, and only when a run starts. `from mnist_doctor import Doctor` (the Keras callback,
mnist_doctor/bridges/callback.py) imports Keras on first use, not with the package.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Doctor":
        from mnist_doctor.bridges.callback import Doctor

        return Doctor
    raise AttributeError(f"module 'mnist_doctor' has no attribute {name!r}")

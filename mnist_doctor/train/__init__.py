"""The training stage: one config trained on its exact schedule, with the doctor's probes.

Owns the schedule (schedule.py), the `Stepper` protocol and its result types (stepper.py), the
backend registry and Keras backend selection (backends.py), one Stepper per backend
(tensorflow_backend.py, jax_backend.py), the trainer that drives a Stepper and writes rows
(trainer.py) and the probe -> telemetry rows conversion (telemetry.py). The only stage that
imports TensorFlow or JAX, and only inside the backend modules, once a run starts.
"""

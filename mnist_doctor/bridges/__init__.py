"""Bridges to where Keras users already are: the doctor as a callback in their own `model.fit`.

`callback.Doctor` records the same run folder `mnist-doctor run` writes (metrics, telemetry,
TensorBoard events, run.json, a config.yaml that describes the user's model); `describe` turns a
Keras model, its compiled loss and the data fit received into that config, and says honestly
what the config language cannot express. Only `callback` imports TensorFlow/Keras.
"""

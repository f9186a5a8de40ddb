"""Facts about models without TensorFlow: a `.tflite` file's facts, the catalogue of
converted models, and source probing with content hashing (SavedModel, .keras, .h5)."""

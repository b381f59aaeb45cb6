"""Deployment: TFLite export (FP32 / FP16 / INT8) with verification, the GPU-delegate op audit,
and the LiteRT runtime.

Modules (import them directly; this package imports nothing heavy):
- `convert`     Keras model -> .tflite bytes, verification against the source (needs TensorFlow);
- `export`      a built model -> verified .tflite file + JSON sidecar (`export_model`);
- `onnx_import` ONNX denoiser -> NHWC Keras graph -> .tflite (op mapping in `onnx_ops`);
- `torch_import` torch.export program (.pt2) -> ONNX -> the ONNX route (optional torch);
- `opaudit`     GPU-delegate op audit of a .tflite file (no TensorFlow);
- `tflite_graph` flatbuffer reader shared by the audit and MAC counting, bounded by the
                file's size so hostile files are refused (no TensorFlow);
- `contract`    what the challenge server accepts (I/O layout, dtypes, declared sizes),
                shared by `check` and the upload check (no TensorFlow);
- `runtime`     LiteRT interpreter wrapper: any-size denoising of one image (no TensorFlow);
- `keras_denoiser` a run folder or model name behind the same `denoise` interface (Keras);
- `tiling`      seam-free overlapping tiles with bounded memory (numpy only);
- `bench`       latency (median/min/max ms) and peak memory of a .tflite (no TensorFlow).
"""

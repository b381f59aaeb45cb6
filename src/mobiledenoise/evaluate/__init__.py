"""Evaluation: PSNR, SSIM, runtime and the challenge's Final Score; tables and plots.

Importing `mobiledenoise.evaluate.metrics` needs only numpy and scikit-image (no TensorFlow),
so the challenge server's worker stays light.
"""

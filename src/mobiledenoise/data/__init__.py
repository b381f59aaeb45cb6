"""Data: image IO, noisy/clean pair discovery, training patches, synthetic noise, bursts."""

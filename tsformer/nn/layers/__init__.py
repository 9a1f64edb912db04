"""Shared network blocks: normalization, decomposition, attention, embeddings, encoder layers."""

from .attention import AttentionLayer, FullAttention
from .decomposition import SeriesDecomposition, decompose, moving_average
from .embeddings import DataEmbedding, InvertedEmbedding, PositionalEmbedding, TimeFeatureEmbedding, TokenEmbedding
from .revin import RevIN, RevINStats, instance_denormalize, instance_normalize
from .ssm import MambaBlock, MambaState, linear_scan, selective_scan
from .transformer import Encoder, EncoderLayer, FeedForward, activation

__all__ = [
    "AttentionLayer", "FullAttention",
    "SeriesDecomposition", "decompose", "moving_average",
    "DataEmbedding", "InvertedEmbedding", "PositionalEmbedding", "TimeFeatureEmbedding", "TokenEmbedding",
    "RevIN", "RevINStats", "instance_denormalize", "instance_normalize",
    "Encoder", "EncoderLayer", "FeedForward", "activation",
    "MambaBlock", "MambaState", "linear_scan", "selective_scan",
]

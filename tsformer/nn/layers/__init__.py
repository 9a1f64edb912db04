"""Shared network blocks: normalization, decomposition, attention (full, ProbSparse, Auto-Correlation),
embeddings, encoder and decoder layers, selective state spaces, dropout, activation checkpointing."""

from .attention import AttentionLayer, FullAttention
from .autocorrelation import AutoCorrelation, autocorrelation, time_delay_aggregation
from .checkpoint import CheckpointedLayer
from .decomp_transformer import DecompDecoder, DecompDecoderLayer, DecompEncoder, DecompEncoderLayer, SeasonalLayerNorm
from .decomposition import SeriesDecomposition, decompose, moving_average
from .dropout import Dropout, dropout
from .embeddings import DataEmbedding, InvertedEmbedding, PositionalEmbedding, TimeFeatureEmbedding, TokenEmbedding
from .probsparse import DistillingLayer, ProbSparseAttention
from .revin import RevIN, RevINStats, instance_denormalize, instance_normalize
from .ssm import MambaBlock, MambaState, linear_scan, selective_scan
from .transformer import Decoder, DecoderLayer, Encoder, EncoderLayer, FeedForward, activation

__all__ = [
    "AttentionLayer", "FullAttention", "ProbSparseAttention", "DistillingLayer",
    "AutoCorrelation", "autocorrelation", "time_delay_aggregation",
    "DecompEncoder", "DecompEncoderLayer", "DecompDecoder", "DecompDecoderLayer", "SeasonalLayerNorm",
    "SeriesDecomposition", "decompose", "moving_average", "Dropout", "dropout",
    "DataEmbedding", "InvertedEmbedding", "PositionalEmbedding", "TimeFeatureEmbedding", "TokenEmbedding",
    "RevIN", "RevINStats", "instance_denormalize", "instance_normalize",
    "Encoder", "EncoderLayer", "Decoder", "DecoderLayer", "FeedForward", "activation",
    "MambaBlock", "MambaState", "linear_scan", "selective_scan", "CheckpointedLayer",
]

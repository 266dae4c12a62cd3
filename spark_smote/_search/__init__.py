"""The neighbour engine: k nearest rows of query rows, exact or by LSH."""

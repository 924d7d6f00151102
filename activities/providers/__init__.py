"""Model providers behind one interface: `ModelProvider.complete(ModelRequest)`."""

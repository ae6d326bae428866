"""Feature-crossing operators over field embeddings: FM, inner and outer products, cross products, DCN-V2 cross layers, CIN; ``pairs`` fixes the field-pair order they share."""

"""Language models as analysis providers: the wire format, structured output, packing,
token counts and prices, provider limits, the Batch API and a local model server."""

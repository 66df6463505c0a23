"""Qt objects without widgets: the feed worker thread, the order service, and the state stores."""

// Imported first by startup.html: a fresh context's first subresource pays Chromium's set-up.

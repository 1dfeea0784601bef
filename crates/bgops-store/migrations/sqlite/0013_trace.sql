-- The submitter's W3C trace context (`traceparent`), kept with the operation so every attempt,
-- on any node and however much later, continues the client's trace; copied into the callback
-- delivery so the callback's POST carries it too. Internal: never shown on the Web API.
ALTER TABLE backgroundoperation ADD COLUMN traceparent TEXT;
ALTER TABLE callbackdelivery ADD COLUMN traceparent TEXT;

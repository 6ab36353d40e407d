-- Argo CD health check for tokenator.dev/OAuthClient.
-- Healthy: a token obtained with the current spec is in the Secret.
-- Progressing: the spec is not yet observed, or no attempt has finished yet.
-- Suspended: spec.suspend is true.
-- Degraded: the latest attempt failed (the message says why and until when the
-- previous token stays valid), or the OAuthClient needs a fix (Stalled).
hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first token"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on the latest spec"
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Stalled" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = condition.message
    return hs
  end
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    if condition.status == "True" then
      hs.status = "Healthy"
    elseif condition.reason == "Suspended" then
      hs.status = "Suspended"
    else
      hs.status = "Degraded"
    end
    hs.message = condition.message
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the first token"
return hs

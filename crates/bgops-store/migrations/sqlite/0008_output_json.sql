-- The outputs of a Succeeded operation as the status monitor shows them: a JSON object of
-- typed values, rendered once when the attempt is recorded so a poll does not parse and type
-- the Key/Value array again. Internal: not a column of the Web API's table. NULL for rows
-- recorded before this column existed (the status monitor then renders from
-- outputparameters).
ALTER TABLE backgroundoperation ADD COLUMN outputjson TEXT;

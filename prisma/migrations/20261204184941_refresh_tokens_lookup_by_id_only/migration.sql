-- DropIndex
DROP INDEX "refresh_tokens_replaced_by_id_key";

-- DropIndex
DROP INDEX "refresh_tokens_token_hash_key";

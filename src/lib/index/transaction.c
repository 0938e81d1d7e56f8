/* Transactions around batches of index updates (include/certsync/index.h). */
#include <certsync/index.h>
#include "index_internal.h"

int cs_index_begin(cs_index *ix) { return cs_store_begin(ix->st); }
int cs_index_begin_read(cs_index *ix) { return cs_store_begin_read(ix->st); }
int cs_index_commit(cs_index *ix) { return cs_store_commit(ix->st); }
void cs_index_rollback(cs_index *ix) { cs_store_rollback(ix->st); }

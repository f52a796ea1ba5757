// The list envelope every list endpoint answers with (DESIGN.md, Patterns the API follows).
export interface Page<T> {
	data: T[];
	pagination: { page: number; pageSize: number; totalCount: number; hasNext: boolean };
}

export function paginate<T>(all: T[], page = 1, pageSize = 20): Page<T> {
	return {
		data: all.slice((page - 1) * pageSize, page * pageSize),
		pagination: { page, pageSize, totalCount: all.length, hasNext: page * pageSize < all.length },
	};
}

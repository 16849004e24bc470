package org.pixelforest.fiji;

import java.awt.Color;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The requests the plugin sends the Python worker, and their parameter and output keys: the names
 * of {@code pixelforest.worker.protocol}, which also says each one's type, default and meaning
 * (docs/protocol.md). tests/worker/test_protocol.py checks that both sides name the same requests and keys.
 * Lists and maps travel as such ({@code java.util.List}, {@code Map}), images as {@code NDArray}s.
 */
public final class Protocol {

	private Protocol() {}

	/** A list of strings as it came back (class names, channel labels). */
	static List<String> strings(Object list) {
		List<String> out = new ArrayList<>();
		for (Object o : (List<?>) list) out.add(String.valueOf(o));
		return out;
	}

	/** A list of [r, g, b] as it came back (class colours). */
	static List<Color> colors(Object list) {
		List<Color> out = new ArrayList<>();
		for (Object o : (List<?>) list) {
			List<?> c = (List<?>) o;
			out.add(new Color(((Number) c.get(0)).intValue(), ((Number) c.get(1)).intValue(), ((Number) c.get(2)).intValue()));
		}
		return out;
	}

	/** A colour as the worker takes it: [r, g, b]. */
	static List<Integer> rgb(Color c) {
		return Arrays.asList(c.getRed(), c.getGreen(), c.getBlue());
	}

	// the requests
	public static final String PING = "ping";
	public static final String TRAIN = "train";
	public static final String LOAD = "load";
	public static final String PREDICT = "predict";
	public static final String SUGGEST = "suggest";
	public static final String EXPORT_HDF5 = "export_hdf5";
	public static final String IMPORT_HDF5 = "import_hdf5";
	public static final String BATCH = "batch";
	public static final String LIVE_OPEN = "live_open";
	public static final String LIVE_LABELS = "live_labels";
	public static final String LIVE_TRAIN = "live_train";
	public static final String LIVE_PREDICT = "live_predict";
	public static final String LIVE_SUGGEST = "live_suggest";
	public static final String LIVE_FEATURES = "live_features";
	public static final String FEATURE_PRESETS = "feature_presets";
	public static final String LIVE_SUGGEST_FEATURES = "live_suggest_features";
	public static final String LIVE_SAVE = "live_save";
	public static final String LIVE_RESUME = "live_resume";
	public static final String LIVE_REMOVE = "live_remove";
	public static final String LIVE_CLOSE = "live_close";
	public static final String LIVE_INFO = "live_info";

	/** Parameter keys. */
	public static final class Key {
		private Key() {}

		public static final String AXES = "axes";
		public static final String BLOCK = "block";
		public static final String CANDIDATES = "candidates";
		public static final String CLASSES = "classes";
		public static final String CLASSIFIER = "classifier";
		public static final String COLORS = "colors";
		public static final String COMPRESSION = "compression";
		public static final String DATASET = "dataset";
		public static final String FEATURES = "features";
		public static final String FORMAT = "format";
		public static final String GROUP_NAMES = "group_names";
		public static final String IMAGE = "image";
		public static final String INDEX = "index";
		public static final String INPUTS = "inputs";
		public static final String K = "k";
		public static final String METHOD = "method";
		public static final String N = "n";
		public static final String OUTPUT = "output";
		public static final String OUTPUT_DIR = "output_dir";
		public static final String PATH = "path";
		public static final String REGION = "region";
		public static final String ROI_INDEX = "roi_index";
		public static final String ROIS = "rois";
		public static final String SEED = "seed";
		public static final String SESSION = "session";
		public static final String SOURCE = "source";
		public static final String STAGES = "stages";
		public static final String STRIDE = "stride";
		public static final String T = "t";
		public static final String TITLE = "title";
		public static final String TREES = "trees";
		public static final String VALUE = "value";
		public static final String Z = "z";
	}

	/** Output keys. */
	public static final class Out {
		private Out() {}

		public static final String AXES = "axes";
		public static final String CACHED_SESSIONS = "cached_sessions";
		public static final String CANCELLED = "cancelled";
		public static final String CELLS = "cells";
		public static final String CLASSES = "classes";
		public static final String CLASSIFIER = "classifier";
		public static final String COLORS = "colors";
		public static final String COMPUTED_CELLS = "computed_cells";
		public static final String DATASET = "dataset";
		public static final String ERROR = "error";
		public static final String FAILED = "failed";
		public static final String FEATURES = "features";
		public static final String FEATURES_CHOICE = "features_choice";
		public static final String IDS = "ids";
		public static final String IMAGES = "images";
		public static final String INDEX = "index";
		public static final String LABELS = "labels";
		public static final String LABELS_OF = "labels_of";
		public static final String MAX_SCALE = "max_scale";
		public static final String MIN_SCALE = "min_scale";
		public static final String N_CHANNELS = "n_channels";
		public static final String N_FEATURES = "n_features";
		public static final String NAMES = "names";
		public static final String NDIM = "ndim";
		public static final String NOTE = "note";
		public static final String OOB_ERROR = "oob_error";
		public static final String OOB_ERROR_ALL = "oob_error_all";
		public static final String PATH = "path";
		public static final String PID = "pid";
		public static final String PLANE_SIZE = "plane_size";
		public static final String PREDICTION = "prediction";
		public static final String PRESETS = "presets";
		public static final String PYTHON = "python";
		public static final String REGIONS = "regions";
		public static final String RESULT = "result";
		public static final String RSS_KB = "rss_kb";
		public static final String SAMPLES = "samples";
		public static final String SESSIONS = "sessions";
		public static final String SHAPE = "shape";
		public static final String SPEC = "spec";
		public static final String SUMMARY = "summary";
		public static final String TRACE = "trace";
		public static final String VALUE = "value";
		public static final String VERSION = "version";
	}

	/** The keys of each ROI in {@link Key#ROIS}. */
	public static final class RoiKey {
		private RoiKey() {}

		public static final String NAME = "name";
		public static final String GROUP = "group";
		public static final String KIND = "kind";
		public static final String COLOR = "color";
	}

	/** The inputs of every task: {@link PythonService#SCRIPT} runs with them. */
	public static final class Task {
		private Task() {}

		public static final String REQUEST = "request";
		public static final String PARAMS = "params";
		public static final String IMAGE = "image";
	}

	/** The keys of each row of the batch {@link Out#SUMMARY}. */
	public static final class Row {
		private Row() {}

		public static final String INPUT = "input";
		public static final String STATUS = "status";
		public static final String OUTPUT = "output";
		public static final String ERROR = "error";
	}
}

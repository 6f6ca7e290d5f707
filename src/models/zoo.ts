// Importing a family module registers its backbones, in the order `tlkit models` and compare list them
// (the reference experiment's order, then the newer families). One line per Keras applications module.
import { listBackbones, getBackbone } from './registry.js';
// Keras semantics for frozen BatchNormalization (inference mode, fixed statistics) for every zoo model.
import './batchnorm.js';
import './mobilenet.js';
import './mobilenet_v2.js';
import './resnet.js';
import './inception_v3.js';
import './xception.js';
import './efficientnet.js';
export { listBackbones, getBackbone };
